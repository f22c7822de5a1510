import itertools

import numpy as np
import pytest

from bench.metrics import best_threshold, prf
from bench.stats import value
from bench.specs import Items, Statistic
from tasks.bucc import cross_fit, half_of
from bench.retrieval import ratio_margin_mine


def _brute_force(X, Y, k):
    """Independent, loop-based LASER ratio-margin 'max' mining on a tiny case."""
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    cos = X @ Y.T
    knn_x = [np.mean(sorted(cos[i], reverse=True)[:k]) for i in range(len(X))]
    knn_y = [np.mean(sorted(cos[:, j], reverse=True)[:k]) for j in range(len(Y))]
    margin = lambda i, j: cos[i, j] / ((knn_x[i] + knn_y[j]) / 2)
    candidates = []
    for i in range(len(X)):
        near = sorted(range(len(Y)), key=lambda j: -cos[i, j])[:k]
        j = max(near, key=lambda j: margin(i, j))
        candidates.append((margin(i, j), i, j))
    for j in range(len(Y)):
        near = sorted(range(len(X)), key=lambda i: -cos[i, j])[:k]
        i = max(near, key=lambda i: margin(i, j))
        candidates.append((margin(i, j), i, j))
    used_i, used_j, out = set(), set(), []
    for score, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if i not in used_i and j not in used_j:
            used_i.add(i), used_j.add(j), out.append((i, j, round(score, 5)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_margin_mining_matches_a_brute_force_implementation(seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    mined = [(p.source, p.target, round(p.score, 5)) for p in ratio_margin_mine(X, Y, k=3)]
    assert mined == _brute_force(X, Y, 3)


def test_margin_prefers_a_distinctive_pair_over_a_hub():
    # y0 is a hub close to everything; x0-y1 is a true pair. Cosine alone picks the hub, margin does not.
    Y = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.05], [0.0, 1.0, 0.0]])
    X = np.array([[1.0, 0.05, 0.3], [0.2, 1.0, 0.9]])
    pairs = {(p.source, p.target) for p in ratio_margin_mine(X, Y, k=2)}
    assert (0, 1) in pairs


def test_mined_pairs_are_one_to_one():
    rng = np.random.default_rng(3)
    mined = ratio_margin_mine(rng.normal(size=(50, 8)), rng.normal(size=(30, 8)), k=4)
    assert len({p.source for p in mined}) == len(mined) == len({p.target for p in mined})


def test_best_threshold_maximises_f1_on_a_hand_checked_case():
    scored = [(0.9, "a"), (0.8, "b"), (0.7, "c"), (0.6, "d")]
    # cut after a: F1 .667; after b: .5; after c: P 2/3 R 1 -> F1 .8 (best); after d: .667
    assert best_threshold(scored, {"a", "c"}) == pytest.approx(0.65)
    assert prf({p for s, p in scored if s >= 0.65}, {"a", "c"}).f1 == pytest.approx(0.8)


def test_prf_edge_cases():
    assert prf(set(), {"a"}).f1 == 0.0
    result = prf({"a", "b"}, {"a", "c", "d"})
    assert (result.precision, result.recall) == (0.5, pytest.approx(1 / 3))
    with pytest.raises(ValueError):
        best_threshold([], {"a"})


def test_half_of_is_the_documented_hash_bit():
    import hashlib
    for sid in ("zh-000001", "zh-000002", "中文"):
        assert half_of(sid) == int(hashlib.sha256(sid.encode("utf-8")).hexdigest()[:8], 16) % 2


def test_cross_fit_tunes_on_one_half_and_scores_the_other():
    ids = [f"s{i}" for i in range(40)]
    h0 = [i for i in ids if half_of(i) == 0][:3]
    h1 = [i for i in ids if half_of(i) == 1][:3]
    # half 0: gold for its first two sources; their pairs score 0.9, 0.8 and a wrong one 0.7 -> threshold 0.75
    # half 1: gold for all three; scores 0.95 (gold), 0.6 (gold), 0.5 (wrong) -> threshold 0.55
    mined = [(0.9, (h0[0], "e0")), (0.8, (h0[1], "e1")), (0.7, (h0[2], "x")),
             (0.95, (h1[0], "f0")), (0.6, (h1[1], "f1")), (0.5, (h1[2], "y"))]
    gold = frozenset({(h0[0], "e0"), (h0[1], "e1"), (h1[0], "f0"), (h1[1], "f1"), (h1[2], "f2")})
    result = cross_fit(mined, gold, ids)
    assert result.thresholds == pytest.approx((0.75, 0.55))
    # half 0 scored with 0.55: all three predicted -> tp 2, fp 1; half 1 scored with 0.75: only 0.95 -> tp 1, fn 2
    assert sum(result.tp.values()) == 3 and sum(result.fp.values()) == 1 and sum(result.fn.values()) == 2
    assert result.fp[h0[2]] == 1 and result.fn[h1[1]] == 1 and result.fn[h1[2]] == 1
    tp, fp, fn = (np.array([c[i] for i in ids], float) for c in (result.tp, result.fp, result.fn))
    f1 = value(Items(Statistic.F1, tuple(ids), {"tp": tp, "fp": fp, "fn": fn}))
    assert f1 == pytest.approx(100 * 2 * 3 / (2 * 3 + 1 + 2))  # micro over both halves
