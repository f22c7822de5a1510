"""The method contract, runnable by tests and by `alignbench check-method NAME` alike."""

from __future__ import annotations

import tempfile
from typing import Callable

import numpy as np

from bench.alignment import AlignmentData, MissingResourceError, fitted_state, restore_state
from bench.artifacts import ArtifactStore
from bench.grid import instantiate
from bench.registry import Entry
from bench.specs import AnchorRequest, Category, MethodSpec


def synthetic_data(n: int = 200, dim: int = 16, seed: int = 0) -> tuple[AlignmentData, np.ndarray]:
    """German = English rotated by a known orthogonal matrix; returns the data and that rotation."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    Y = rng.normal(size=(n, dim)).astype(np.float32)
    X = (Y @ rotation.T).astype(np.float32)
    monolingual = {"de": X + 3.0, "en": Y * 2.0 - 1.0}
    return AlignmentData("en", ("de", "en"), pairs={"de": (X, Y)}, monolingual=monolingual), rotation.astype(np.float32)


def check_method(entry: Entry) -> list[str]:
    """Run every contract check; raise AssertionError naming the first that fails."""
    passed: list[str] = []

    def check(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except AssertionError as error:
            raise AssertionError(f"{entry.name}: {name}: {error}") from None
        passed.append(name)

    spec: MethodSpec = entry.spec
    data, _ = synthetic_data()
    X = data.monolingual["de"]

    def spec_complete():
        assert isinstance(spec, MethodSpec) and isinstance(spec.category, Category)
        assert spec.version and spec.citation and spec.name, "name, version and citation are required"

    def needs_declared():
        needs = instantiate(entry, ()).needs()
        assert isinstance(needs, tuple) and all(isinstance(r, AnchorRequest) for r in needs), \
            f"needs() must return a tuple of bench.specs.AnchorRequest, got {needs!r}"
        resources = {request.resource for request in needs}
        assert resources <= spec.supervision, f"needs() asks for {sorted(r.value for r in resources)}, not all within " \
                                              f"the spec's supervision {sorted(r.value for r in spec.supervision)}"

    def fit_returns_self():
        method = instantiate(entry, ())
        assert method.fit(data) is method, "fit must return self"

    def transform_keeps_shape_and_dtype():
        out = instantiate(entry, ()).fit(data).transform(X, "de")
        assert out.shape == X.shape and out.dtype == np.float32, f"got {out.shape} {out.dtype}"

    def deterministic():
        a = instantiate(entry, ()).fit(data).transform(X, "de")
        b = instantiate(entry, ()).fit(data).transform(X, "de")
        np.testing.assert_array_equal(a, b)

    def state_round_trips():
        fitted = instantiate(entry, ()).fit(data)
        store = ArtifactStore(tempfile.mkdtemp())
        store.save("check", fitted_state(fitted), {})
        restored = restore_state(instantiate(entry, ()), store.load("check"))
        np.testing.assert_array_equal(restored.transform(X, "de"), fitted.transform(X, "de"))

    def missing_resource_is_clear():
        if not instantiate(entry, ()).needs():
            return
        try:
            instantiate(entry, ()).fit(AlignmentData("en", ("de", "en")))
        except MissingResourceError:
            return
        raise AssertionError("fitting without the resources it needs must raise MissingResourceError")

    for name, fn in [("spec is complete", spec_complete), ("needs() within spec.supervision", needs_declared),
                     ("fit returns self", fit_returns_self), ("transform keeps shape and float32", transform_keeps_shape_and_dtype),
                     ("same data -> same output", deterministic), ("fitted state survives the artifact store", state_round_trips),
                     ("missing resources raise MissingResourceError", missing_resource_is_clear)]:
        check(name, fn)
    return passed
