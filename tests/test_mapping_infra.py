"""Issue 5 infrastructure: independent per-language encoders, the synthetic cbli-sim task, Table-1 view."""

from pathlib import Path

import numpy as np
import pytest

from bench.encoders.base import Embeddings
from bench.encoders.per_language import PerLanguageEncoder
from bench.grid import GridError, load_grid
from bench.grid import instantiate
from bench.registry import get_method, get_task
from bench.results import read_jsonl
from bench.retrieval import nearest_neighbour
from bench.runner import Runner, RunOptions
from bench.specs import EncodeSpec
from bench.taskapi import TaskContext
from tasks.cbli_sim import SETTINGS, CbliSim, simulate, simulate_spaces, training_data
from tests.helpers import ToyEncoder, write_fixture_data


class WideEncoder(ToyEncoder):
    """A toy encoder of another width and fingerprint: an 'independent' model."""

    name = "wide"
    fingerprint = "wide-fingerprint-1"

    def encode(self, texts, lang, spec, progress=False):
        base = super().encode(texts, lang, spec)
        return Embeddings(pooled={k: np.concatenate([v, v[:, :4]], axis=1) for k, v in base.pooled.items()})


def test_per_language_encoder_dispatches_by_language():
    toy, wide = ToyEncoder(), WideEncoder()
    both = PerLanguageEncoder(toy, {"de": wide}, "toy+de=wide")
    spec = EncodeSpec(layers=(1,))
    assert both.encode(["a"], "de", spec).pooled[1].shape == (1, 20)
    assert both.encode(["a"], "en", spec).pooled[1].shape == (1, 16)
    assert both.fingerprint != PerLanguageEncoder(toy, {"fr": wide}, "x").fingerprint
    with pytest.raises(ValueError, match="independent encoders"):
        nearest_neighbour(np.ones((2, 20)), np.ones((2, 16)))


def test_grid_per_language_encoders(tmp_path):
    grid = tmp_path / "grid.toml"
    body = '[[methods]]\nname = "original"\n[[tasks]]\nname = "tatoeba"\n'
    grid.write_text('[[encoders]]\nname = "toy"\nlayers = [1]\nper_language = { de = "wide" }\n' + body)
    choice = load_grid(grid).encoders[0]
    assert choice.per_language == (("de", "wide"),) and choice.label == "toy+de=wide"
    grid.write_text('[[encoders]]\nname = "toy"\nlayers = [1]\nper_language = { de = 3 }\n' + body)
    with pytest.raises(GridError, match="per_language must map language codes"):
        load_grid(grid)


def test_independent_encoders_need_a_mapping(tmp_path):
    """English by the toy encoder, German by a wider one: 'original' is planned as not applicable (the
    tasks themselves refuse to compare the two widths, tested above); procrustes maps across."""
    grid = tmp_path / "grid.toml"
    grid.write_text('name = "indep"\nlanguages = ["de"]\n[[encoders]]\nname = "toy"\nlayers = [1]\n'
                    'per_language = { de = "wide" }\n[[methods]]\nname = "original"\n[[methods]]\nname = "procrustes"\n'
                    'params = { max_pairs = 30 }\n[[tasks]]\nname = "tatoeba"\n')
    data = write_fixture_data(tmp_path / "data")
    options = RunOptions(data_dir=data, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)
    factory = {"toy": ToyEncoder(), "wide": WideEncoder()}
    summary = Runner(load_grid(grid), options, lambda name, batch: factory[name]).run()
    assert (summary.done, summary.failed, summary.not_applicable) == (1, 0, 1)
    (reason,) = summary.not_applicable_reasons
    assert "independent models; original leaves them in different spaces" in reason
    assert not read_jsonl(tmp_path / "out" / "errors.jsonl")
    rows = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert {r["encoder"] for r in rows} == {"toy+de=wide"} and {r["method"] for r in rows} == {"procrustes"}


def test_cbli_sim_is_seeded_and_its_settings_differ():
    a, b = simulate("noniso-same", 0), simulate("noniso-same", 0)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(simulate("noniso-same", 1).X_train, a.X_train)
    iso, shifted = simulate("iso-same", 0), simulate("iso-shifted", 0)
    assert np.abs(iso.X_test.mean(0) - shifted.X_test.mean(0)).max() > 0.1  # the test domain moved
    data = training_data(a, 0)  # anchor-free methods get each side shuffled on its own: no pairing survives
    assert not np.array_equal(data.monolingual["sim"], a.X_train)
    assert sorted(map(tuple, data.monolingual["sim"].round(5))) == sorted(map(tuple, a.X_train.round(5)))
    with pytest.raises(ValueError, match="unknown setting"):
        simulate("upside-down", 0)


def test_cbli_sim_generator_follows_the_papers_set_up():
    """§4.3: 20 words, 2-d, means ~ U[-5,5], occurrences ~ N(mu, I), test means + epsilon on every component,
    t = 1 a single orthogonal map; t > 1 groups of words under different rigid maps."""
    task = CbliSim()
    assert (task.words, task.dim, task.occurrences) == (20, 2, 100)
    spaces = simulate_spaces(3, occurrences=2000, degree=1, epsilon=1.5)
    assert spaces.X_train.shape == (20 * 2000, 2)
    word = np.repeat(np.arange(20), 2000)
    train_means = np.stack([spaces.X_train[word == w].mean(0) for w in range(20)])
    test_means = np.stack([spaces.X_test[spaces.words_test == w].mean(0) for w in range(20)])
    assert np.abs(train_means).max() < 5.2  # U[-5, 5] plus sampling error
    np.testing.assert_allclose(test_means - train_means, 1.5, atol=0.12)  # epsilon on every component
    spread = np.concatenate([spaces.X_train[word == w] - train_means[w] for w in range(20)])
    np.testing.assert_allclose(np.cov(spread.T), np.eye(2), atol=0.05)  # identity covariance
    Q, *_ = np.linalg.lstsq(spaces.X_train, spaces.Y_train, rcond=None)
    np.testing.assert_allclose(Q @ Q.T, np.eye(2), atol=1e-4)  # t = 1: one orthogonal map, no noise
    np.testing.assert_allclose(spaces.X_test @ Q, spaces.Y_test, atol=1e-3)
    noniso = simulate_spaces(3, occurrences=50, degree=5)
    pair_word = np.repeat(np.arange(20), 50)
    for g in range(5):  # each group of words (i mod 5) is one exact rigid map, different across groups
        rows = pair_word % 5 == g
        A = np.c_[noniso.X_train[rows], np.ones(rows.sum())]
        fit, residual, *_ = np.linalg.lstsq(A, noniso.Y_train[rows], rcond=None)
        assert residual.max() < 1e-3 and np.allclose(fit[:2] @ fit[:2].T, np.eye(2), atol=1e-3)
    whole = np.c_[noniso.X_train, np.ones(len(pair_word))]
    assert np.linalg.lstsq(whole, noniso.Y_train, rcond=None)[1].max() > 100  # no single affine map fits all
    with pytest.raises(ValueError, match="degree"):
        simulate_spaces(0, degree=0)


def test_cbli_sim_separates_isomorphic_from_non_isomorphic_spaces():
    task, ctx = CbliSim(), TaskContext(Path("."), 0, 0)

    def p1(name, setting, **params):
        scores = task.evaluate_method(lambda: instantiate(get_method(name), tuple(params.items())), setting, ctx)
        return next(s.value for s in scores if s.metric == "p1")

    assert p1("procrustes", "iso-same", anchors="words") == 100.0  # one rotation explains the isomorphic spaces
    assert p1("procrustes", "noniso-same", anchors="words") < 95.0  # ... but not per-word translations
    assert p1("original", "iso-same") < 20.0  # unmapped spaces are unrelated
    assert set(SETTINGS) == set(task.languages(Path(".")))


def test_cbli_sim_ranks_by_euclidean_distance_because_cosine_keeps_only_the_angle_in_2d():
    """A near-exact map (targets + N(0, 0.05^2)) keeps most hits by distance; cosine loses them (module docstring)."""

    class NearlyExact:  # sends each source occurrence close to its own target image
        def fit(self, data):
            return self

        def transform(self, X, lang):
            return X if lang == "en" else self.targets + np.random.default_rng(1).normal(scale=0.05, size=X.shape)

    spaces = simulate("iso-same", 0)
    NearlyExact.targets = spaces.Y_test
    scores = {s.metric: s.value for s in CbliSim().evaluate_method(NearlyExact, "iso-same", TaskContext(Path("."), 0, 0))}
    assert get_task("cbli-sim").spec.main_metric == "p1" and scores["p1"] > 80.0 and scores["p1_cosine"] < 50.0


def test_runner_runs_cbli_sim_without_an_encoder(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "linear"\n'
                    'params = { anchors = "words" }\n[[tasks]]\nname = "cbli-sim"\nlanguages = ["iso-same"]\n')
    toy = ToyEncoder()
    options = RunOptions(data_dir=write_fixture_data(tmp_path / "data"), out_dir=tmp_path / "out",
                         cache_dir=tmp_path / "cache", progress=False)
    summary = Runner(load_grid(grid), options, lambda name, batch: toy).run()
    assert summary.done == 1 and toy.calls == 0
    rows = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert {r["kind"] for r in rows} == {"synthetic"} and "SYNTHETIC" in rows[0]["protocol_detail"]["dataset"]
    assert next(r["value"] for r in rows if r["metric"] == "p1") == 100.0


def test_table1_groups_methods_by_supervision():
    from bench.leaderboard import table1

    def row(method, category, task, language, value, kind="task"):
        return {"method_label": method, "category": category, "encoder": "e", "layer": 8, "task": task,
                "protocol": "p", "task_version": "1", "metric": "m", "language": language, "subset": "",
                "value": value, "seed": 0, "n": 1, "is_main": True, "kind": kind}

    rows = [row("original", "control", "tatoeba", "de", 80), row("original", "control", "tatoeba", "tr", 60),
            row("procrustes", "a", "tatoeba", "de", 90), row("muse-adversarial", "b", "tatoeba", "de", 85),
            row("muse-adversarial", "b", "cbli", "de", 70, kind="diagnostic"), row("original", "control", "align", "fr", 91),
            row("procrustes", "a", "bli", "de", 30, kind="diagnostic")]
    (key, table), = table1(rows).items()
    assert list(table.columns) == ["tatoeba", "cbli", "align", "bli"]  # the paper's order, BLI after its four
    assert key == "e L8"
    assert list(table.index.get_level_values("group")) == ["baseline", "supervised (a)", "unsupervised (b)"]
    assert table.loc[("baseline", "original"), "tatoeba"] == "70.0"
    assert table.loc[("supervised (a)", "procrustes"), "tatoeba"] == "90.0 (1/2)"
    assert table.loc[("unsupervised (b)", "muse-adversarial"), "cbli"] == "70.0"
