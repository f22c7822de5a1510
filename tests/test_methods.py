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
    entry = registry.get_method(name)
    expected = 2 if entry.spec.pretrained_encoder else 6 if entry.spec.mode.value == "online" else 7
    assert len(check_method(entry)) == expected


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
        "    def needs(self): return ()\n"
        "    def fit(self, data): return None\n"
        "    def transform(self, X, lang): return X\n"
    )
    with pytest.raises(AssertionError, match="broken: fit returns self"):
        check_method(registry.get_method("broken", (str(broken),)))


def test_finetuner_contract_catches_a_fit_that_trains_nothing(tmp_path):
    lazy = tmp_path / "lazy.py"
    lazy.write_text(
        "from dataclasses import dataclass\n"
        "from bench.registry import method\n"
        "from bench.specs import *\n"
        "@method(MethodSpec('lazy', Category.C, '1', 'x', Mode.ONLINE, Signal.PARALLEL_CORPUS,"
        " WordAlignmentSource.NOT_APPLICABLE, Level.SENTENCE, frozenset({Resource.PARALLEL_SENTENCES})))\n"
        "@dataclass\n"
        "class Lazy:\n"
        "    seed: int = 0\n"
        "    def needs(self): return (AnchorRequest(Resource.PARALLEL_SENTENCES),)\n"
        "    def fit(self, data, model):\n"
        "        self.record_ = {}\n"
        "        return self\n"
    )
    with pytest.raises(AssertionError, match="lazy: same seed -> bit-identical weights, another seed -> others: fit left every weight unchanged"):
        check_method(registry.get_method("lazy", (str(lazy),)))


def test_missing_resources_give_clear_errors():
    with pytest.raises(MissingResourceError, match="no parallel anchors for de-en"):
        Procrustes().fit(AlignmentData("en", ("de", "en")))
    with pytest.raises(MissingResourceError, match="no monolingual text for de"):
        Normalization().fit(AlignmentData("en", ("de", "en")))
    with pytest.raises(ValueError, match="anchors must be one of"):
        Procrustes(anchors="telepathy")


def test_linear_recovers_a_planted_linear_map():
    from methods.linear import Linear

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 8))
    M = rng.normal(size=(8, 8))  # not orthogonal: Procrustes cannot fit it, least squares can
    data = AlignmentData("en", ("de", "en"), pairs={"de": (X.astype(np.float32), (X @ M).astype(np.float32))})
    fitted = Linear(anchors="parallel").fit(data)
    np.testing.assert_allclose(fitted.weights_["de"], M, atol=1e-4)
    procrustes_error = np.abs(Procrustes().fit(data).transform(X.astype(np.float32), "de") - X @ M).mean()
    assert np.abs(fitted.transform(X.astype(np.float32), "de") - X @ M).max() < 1e-3 < procrustes_error
    ridge = Linear(anchors="parallel", ridge=1e4).fit(data)
    assert np.linalg.norm(ridge.weights_["de"]) < np.linalg.norm(fitted.weights_["de"])  # shrunk


def test_gbdd_removes_a_planted_language_offset():
    from methods.gbdd import Gbdd

    rng = np.random.default_rng(4)
    Y = rng.normal(size=(300, 6)).astype(np.float32)
    offset = np.array([3.0, -1.0, 0.0, 0.5, 2.0, 0.0], np.float32)
    X = Y + offset + 0.01 * rng.normal(size=Y.shape).astype(np.float32)
    fitted = Gbdd().fit(AlignmentData("en", ("de", "en"), pairs={"de": (X, Y)}))
    np.testing.assert_allclose(fitted.bias_["de"], offset, atol=5e-3)
    assert np.abs(fitted.transform(X, "de") - Y).max() < 0.05


def test_fcnn_fits_a_non_linear_map_that_a_linear_one_cannot():
    from methods.fcnn import Fcnn
    from methods.linear import Linear

    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    Y = np.tanh(2 * X) + 0.5 * X ** 2  # non-linear
    data = AlignmentData("en", ("de", "en"), pairs={"de": (X, Y.astype(np.float32))})
    fcnn = Fcnn(anchors="parallel", hidden=32, epochs=40, lr=3e-3, batch_size=64).fit(data)
    linear = Linear(anchors="parallel").fit(data)
    fcnn_error = ((fcnn.transform(X, "de") - Y) ** 2).mean()
    linear_error = ((linear.transform(X, "de") - Y) ** 2).mean()
    assert fcnn_error < 0.3 * linear_error
    assert int(fcnn.best_epoch_["de"]) == 40  # "epochs" selection keeps the last epoch


def test_fcnn_criterion_selection_picks_a_recorded_epoch():
    from methods.fcnn import Fcnn

    data, _ = synthetic_data(n=300)
    for selection in ("semantic", "structural"):
        fitted = Fcnn(anchors="parallel", epochs=4, selection=selection).fit(data)
        assert 1 <= int(fitted.best_epoch_["de"]) <= 4
    with pytest.raises(ValueError, match="selection must be one of"):
        Fcnn(selection="dev-set")


def test_anchor_kinds_are_validated():
    from methods.linear import Linear

    with pytest.raises(ValueError, match="anchors must be one of"):
        Linear(anchors="sentences")
    from bench.specs import AnchorRequest, Resource, Unit

    assert Linear(anchors="words", max_pairs=7).needs() == (AnchorRequest(Resource.WORD_ALIGNMENTS, 7),)
    from methods.muse_adversarial import MuseAdversarial

    assert MuseAdversarial(max_sentences=5, max_vectors=9).needs() == (
        AnchorRequest(Resource.MONOLINGUAL_TEXT, 5, Unit.TOKENS, 9),)


def test_real_nvp_coupling_layers_are_invertible_with_the_right_log_determinant():
    import torch

    from methods.real_nvp import coupling_flow

    torch.manual_seed(0)
    flow = coupling_flow(6, n_layers=4, hidden=16).double()
    for parameter in flow.parameters():  # leave the identity start: random weights everywhere
        torch.nn.init.normal_(parameter, std=0.5)
    x = torch.randn(5, 6, dtype=torch.float64)
    y, logdet = flow(x)
    back, logdet_inverse = flow.inverse(y)
    assert torch.allclose(back, x, atol=1e-10) and not torch.allclose(y, x)
    assert torch.allclose(logdet_inverse, -logdet, atol=1e-10)
    for i in range(len(x)):
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], x[i])
        assert torch.allclose(torch.linalg.slogdet(jacobian).logabsdet, logdet[i], atol=1e-8)


def test_real_nvp_learns_a_planted_map():
    from methods.real_nvp import RealNvp

    rng = np.random.default_rng(6)
    X = rng.normal(size=(2000, 6)).astype(np.float32)
    Y = (X * np.array([2.0, 0.5, 1.0, 1.5, 1.0, 0.8]) + np.tanh(X[:, ::-1]) + 1.0).astype(np.float32)
    data = AlignmentData("en", ("de", "en"), pairs={"de": (X, Y)})
    fitted = RealNvp(anchors="parallel", hidden=32, epochs=15, lr=3e-3, batch_size=64).fit(data)
    error = ((fitted.transform(X, "de") - Y) ** 2).mean()
    assert error < 0.1 * ((X - Y) ** 2).mean()


def test_structural_criterion_compares_the_spectra_of_confident_translation_pairs():
    """§4.2: the singular values are taken over the CSLS-translated pairs, not over the two spaces as a
    whole: a rotated copy has the same spectrum as a whole but its induced 'translations' repeat hubs."""
    from bench import diagnostics
    from methods._selection import confident_translations, structural_criterion

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16)) * np.geomspace(10, 0.1, 16)  # anisotropic, like contextual states
    order = rng.permutation(200)
    aligned = X[order]  # every source's translation is its own copy
    rows, cols = confident_translations(X, aligned)
    np.testing.assert_array_equal(order[cols], rows)
    assert structural_criterion(X, aligned) == pytest.approx(0.0, abs=1e-9)
    rotated = X @ np.linalg.qr(rng.normal(size=(16, 16)))[0]
    assert diagnostics.structural_criterion(X, rotated) == pytest.approx(0.0, abs=1e-9)  # whole spectra agree
    assert structural_criterion(X, rotated) < -0.1  # the induced pairs do not
