import numpy as np
import pytest

from bench import registry
from bench.alignment import AlignmentData, MissingResourceError
from bench.contract import check_method, synthetic_data
from methods.normalization import Normalization
from methods.procrustes import Procrustes


def test_procrustes_recovers_a_planted_rotation():
    data, rotation = synthetic_data()
    fitted = Procrustes().fit(data)
    np.testing.assert_allclose(fitted.rotations_["de"], rotation, atol=1e-5)
    X, Y = data.pairs["de"]
    np.testing.assert_allclose(fitted.transform(X, "de"), Y, atol=1e-4)
    np.testing.assert_array_equal(fitted.transform(Y, "en"), Y)


def test_procrustes_with_noise_still_close():
    data, rotation = synthetic_data(n=500)
    X, Y = data.pairs["de"]
    noisy = AlignmentData("en", ("de", "en"), pairs={"de": (X + 0.05 * np.random.default_rng(1).normal(size=X.shape), Y)})
    assert np.abs(Procrustes().fit(noisy).rotations_["de"] - rotation).max() < 0.05


def test_normalization_standardises_each_language():
    data, _ = synthetic_data()
    fitted = Normalization().fit(data)
    for lang in ("de", "en"):
        out = fitted.transform(data.monolingual[lang], lang)
        np.testing.assert_allclose(out.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(out.std(0), 1, atol=1e-3)


@pytest.mark.parametrize("name", sorted(registry.methods()))
def test_method_contract(name):
    assert len(check_method(registry.get_method(name))) == 7


def test_contract_catches_a_broken_method(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(
        "from dataclasses import dataclass\n"
        "from bench.registry import method\n"
        "from bench.specs import *\n"
        "@method(MethodSpec('broken', Category.A, '1', 'x', Mode.OFFLINE, Signal.NONE,"
        " WordAlignmentSource.NOT_APPLICABLE, Level.SENTENCE))\n"
        "@dataclass\n"
        "class Broken:\n"
        "    def needs(self): return frozenset()\n"
        "    def fit(self, data): return None\n"
        "    def transform(self, X, lang): return X\n"
    )
    with pytest.raises(AssertionError, match="broken: fit returns self"):
        check_method(registry.get_method("broken", (str(broken),)))


def test_missing_resources_give_clear_errors():
    with pytest.raises(MissingResourceError, match="no parallel anchors for de-en"):
        Procrustes().fit(AlignmentData("en", ("de", "en")))
    with pytest.raises(MissingResourceError, match="no monolingual text for de"):
        Normalization().fit(AlignmentData("en", ("de", "en")))
    with pytest.raises(ValueError, match="anchors must be one of"):
        Procrustes(anchors="telepathy")
