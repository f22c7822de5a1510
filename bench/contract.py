"""The method contract, runnable by tests and by `alignbench check-method NAME` alike."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
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


def _runner(entry: Entry, passed: list[str]) -> Callable[[str, Callable[[], None]], None]:
    def check(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except AssertionError as error:
            raise AssertionError(f"{entry.name}: {name}: {error}") from None
        passed.append(name)

    return check


def _common_checks(entry: Entry) -> list[tuple[str, Callable[[], None]]]:
    spec: MethodSpec = entry.spec

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

    return [("spec is complete", spec_complete), ("needs() within spec.supervision", needs_declared)]


def check_method(entry: Entry) -> list[str]:
    """Run every contract check; raise AssertionError naming the first that fails."""
    if entry.spec.pretrained_encoder:  # nothing to fit: the runner uses that encoder as it is
        passed: list[str] = []
        check = _runner(entry, passed)
        for name, fn in _common_checks(entry):
            check(name, fn)
        return passed
    if entry.spec.trains_encoder:
        return check_finetuner(entry)
    if entry.spec.acts_at_task_time:
        return check_task_time_method(entry)
    passed: list[str] = []
    check = _runner(entry, passed)
    data, _ = synthetic_data()
    X = data.monolingual["de"]

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

    for name, fn in _common_checks(entry) + [
                     ("fit returns self", fit_returns_self), ("transform keeps shape and float32", transform_keeps_shape_and_dtype),
                     ("same data -> same output", deterministic), ("fitted state survives the artifact store", state_round_trips),
                     ("missing resources raise MissingResourceError", missing_resource_is_clear)]:
        check(name, fn)
    return passed


def check_finetuner(entry: Entry) -> list[str]:
    """The Finetuner contract (bench/finetune.py) on a tiny random 12-layer BERT (as deep as the offline
    encoder, so default parameters such as `layer = 12` apply) and the synthetic parallel set: fit returns
    self, the same seed gives bit-identical weights, the saved checkpoint encodes exactly like the trained
    model, and missing training data raises MissingResourceError."""
    import torch

    from bench.encoders.transformers_encoder import TransformersEncoder
    from bench.finetune import (CheckpointStore, TrainableModel, TrainingData, synthetic_training_data,
                                synthetic_vocabulary, tiny_model_dir)
    from bench.specs import EncodeSpec

    passed: list[str] = []
    check = _runner(entry, passed)
    root = Path(tempfile.mkdtemp(prefix="alignbench-contract-"))
    base = tiny_model_dir(root / "tiny", synthetic_vocabulary(), layers=12, hidden=16)
    data = synthetic_training_data()
    trained: dict[int, TrainableModel] = {}

    def fitted(seed: int) -> TrainableModel:
        model = TrainableModel(base)
        method = dataclasses.replace(instantiate(entry, ()), seed=seed)  # `seed` is a declared Finetuner field
        assert method.fit(data, model) is method, "fit must return self"
        assert isinstance(getattr(method, "record_", None), dict), "fit must leave its training record in record_ (a dict)"
        trained.setdefault(seed, model)
        return model

    def deterministic():
        a, b = fitted(0).module.state_dict(), fitted(0).module.state_dict()
        different = [k for k in a if not torch.equal(a[k], b[k])]
        assert not different, f"two fits with seed 0 differ in {different[:3]}"
        assert any(not torch.equal(a[k], v) for k, v in TrainableModel(base).module.state_dict().items()), \
            "fit left every weight unchanged"
        c = fitted(1).module.state_dict()
        assert any(not torch.equal(a[k], c[k]) for k in a), "seeds 0 and 1 trained identical weights"

    def checkpoint_round_trips():
        model = trained.get(0) or fitted(0)
        directory = CheckpointStore(root / "cache").save("contract", model, {"record": {}, "provenance": {}})
        texts = list(data.parallel["de"][0])
        spec = EncodeSpec(layers=(model.num_layers,))
        reloaded = TransformersEncoder(directory).encode(texts, "en", spec).pooled[model.num_layers]
        with torch.no_grad():
            direct = model.mean_pooled(texts, model.num_layers, spec.max_length).numpy()
        np.testing.assert_allclose(reloaded, direct, rtol=1e-5, atol=1e-6)

    def missing_resource_is_clear():
        try:
            instantiate(entry, ()).fit(TrainingData("en", ()), TrainableModel(base))
        except MissingResourceError:
            return
        raise AssertionError("fitting without the training data it needs must raise MissingResourceError")

    try:
        for name, fn in _common_checks(entry) + [
                ("fit returns self and records its training", lambda: fitted(2)),
                ("same seed -> bit-identical weights, another seed -> others", deterministic),
                ("the checkpoint encodes like the trained model", checkpoint_round_trips),
                ("missing training data raises MissingResourceError", missing_resource_is_clear)]:
            check(name, fn)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return passed


def check_task_time_method(entry: Entry) -> list[str]:
    """The task-time contract (bench/tasktime.py) on a toy head: fit returns self (or a missing resource
    raises MissingResourceError); the loss is a
    finite scalar that trains the head, on feature inputs [batch, dim] and on token inputs [batch, tokens,
    dim] with a padding mask; the same torch seed gives the same loss; augmented copies keep the length of
    their input and depend only on it and the generator."""
    import torch

    from bench.tasktime import TrainingStep, step_loss

    passed: list[str] = []
    check = _runner(entry, passed)

    def step(tokens: bool) -> tuple[TrainingStep, torch.nn.Module]:
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        head = torch.nn.Linear(8, 3)
        shape = (4, 5, 8) if tokens else (4, 8)
        inputs = torch.randn(shape, generator=generator)
        gold = torch.randint(0, 3, shape[:-1], generator=generator)
        mask = torch.ones(shape[:-1], dtype=torch.bool) if tokens else None
        return TrainingStep(inputs, head, lambda logits: torch.nn.functional.cross_entropy(
            logits.reshape(-1, 3), gold.reshape(-1)), mask, None), head

    def fits_or_asks_clearly():
        from bench.finetune import TrainingData

        method = instantiate(entry, ())
        if not method.needs():
            assert method.fit(TrainingData("en", ())) is method, "fit must return self"
            return
        try:
            method.fit(TrainingData("en", ()))
        except MissingResourceError:
            return
        raise AssertionError("fitting without the resources it needs must raise MissingResourceError")

    def trains_the_head(tokens: bool):
        training, head = step(tokens)
        torch.manual_seed(0)
        loss = step_loss(instantiate(entry, ()), training)
        assert torch.isfinite(loss), f"loss is {loss}"
        loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in head.parameters()), "no gradient reaches the head"

    def deterministic():
        values = []
        for _ in range(2):
            training, _ = step(False)
            torch.manual_seed(0)
            values.append(step_loss(instantiate(entry, ()), training).item())
        assert values[0] == values[1], f"same seed, different losses {values}"

    def augments_word_for_word():
        words = ("The", "cat", "sat", "on", "the", "mat", ".")
        runs = [instantiate(entry, ()).augment(words, np.random.default_rng(0)) for _ in range(2)]
        assert runs[0] and all(len(copy) == len(words) for copy in runs[0]), f"augment gave {runs[0]!r}"
        assert runs[0] == runs[1], "augment must depend only on its words and rng"

    for name, fn in _common_checks(entry) + [
            ("fit returns self, or missing resources raise MissingResourceError", fits_or_asks_clearly), ("augment keeps each copy as long as its input", augments_word_for_word), ("a finite loss that trains a head on features", lambda: trains_the_head(False)),
            ("the same on token inputs with a mask", lambda: trains_the_head(True)),
            ("same seed -> same loss", deterministic)]:
        check(name, fn)
    return passed
