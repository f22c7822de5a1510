"""The diagnostics' functional core against straightforward loop implementations and known answers."""

import math

import numpy as np
import pytest
from scipy.stats import ortho_group

from bench import diagnostics as dg


def _naive_cos(a, b):
    return float(a @ b / (math.sqrt(a @ a) * math.sqrt(b @ b)))


def _naive_csls(X, Y, k):
    n, m = len(X), len(Y)
    cos = [[_naive_cos(X[i], Y[j]) for j in range(m)] for i in range(n)]
    r_y = [sum(sorted(cos[i], reverse=True)[:k]) / k for i in range(n)]
    r_x = [sum(sorted((cos[i][j] for i in range(n)), reverse=True)[:k]) / k for j in range(m)]
    return [[2 * cos[i][j] - r_y[i] - r_x[j] for j in range(m)] for i in range(n)]


def test_csls_and_precision_at_1_match_a_loop_implementation():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(30, 6)), rng.normal(size=(25, 6))
    assert np.allclose(dg.csls_matrix(X, Y, k=4), _naive_csls(X, Y, 4))
    gold = [{int(j) for j in rng.choice(25, 2, replace=False)} for _ in range(30)]
    for scores in (dg.cosine_matrix(X, Y), dg.csls_matrix(X, Y, k=4)):
        hits = 0
        for i in range(30):
            best = max(range(25), key=lambda j: (scores[i][j], -j))
            hits += best in gold[i]
        assert dg.precision_at_1(scores, gold) == pytest.approx(100 * hits / 30)


def test_csls_fixes_a_hub_that_nearest_neighbour_picks():
    """Hand-made case: target 0 is a hub close to every source; CSLS penalises it."""
    Y = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    X = np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]])
    gold = np.array([1, 2, 3])
    assert dg.precision_at_1(dg.cosine_matrix(X, Y), gold) == 0.0
    assert dg.precision_at_1(dg.csls_matrix(X, Y, k=3), gold) == 100.0


def test_isotropy_of_gaussian_vectors_is_near_the_theoretical_value():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 32))
    # cosine of two independent isotropic vectors: mean 0, sd 1/sqrt(d); 10k pairs -> sd of the mean ~0.0018
    assert abs(dg.average_cosine(X, n_pairs=10_000)) < 0.01
    assert dg.partition_ratio(X) > 0.9
    shifted = X + 3.0  # a common direction: strongly anisotropic
    assert dg.average_cosine(shifted) > 0.8
    assert dg.partition_ratio(shifted) < 0.5  # unit vectors: Z(c) ranges over exp([-1, 1]) at most


def test_isomorphism_measures_on_rotated_and_unrelated_spaces():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 10)) * np.linspace(3, 0.3, 10)
    R = ortho_group.rvs(10, random_state=3)
    assert dg.singular_value_gap(X, X @ R) == pytest.approx(0.0, abs=1e-9)
    assert dg.relational_similarity(X, X @ R) == pytest.approx(100.0)
    unrelated = rng.normal(size=(200, 10))
    assert dg.singular_value_gap(X, unrelated) > 1.0
    assert abs(dg.relational_similarity(X, unrelated)) < 10
    assert dg.structural_criterion(X, X @ R) > dg.structural_criterion(X, unrelated)


def test_cosine_gap_by_hand():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    Y = np.array([[1.0, 0.0], [1.0, 1.0]])
    # translation cosines 1 and 1/sqrt2; non-translation cosines 1/sqrt2 and 0
    expected = 100 * ((1 + 2 ** -0.5) / 2 - (2 ** -0.5 + 0) / 2)
    assert dg.cosine_gap(X, Y) == pytest.approx(expected)


def test_semantic_criterion_prefers_the_aligned_space():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 16))
    R = ortho_group.rvs(16, random_state=5)
    Y = X @ R
    assert dg.semantic_criterion(X @ R, Y, most_confident=100) == pytest.approx(1.0)
    assert dg.semantic_criterion(X, Y, most_confident=100) < 0.9


def test_zero_vectors_are_refused():
    with pytest.raises(ValueError, match="zero vectors cannot"):
        dg.cosine_matrix(np.zeros((2, 3)), np.ones((2, 3)))
