"""bench.stats against hand-checked cases and scipy's reference implementations."""

import numpy as np
import pytest
from scipy import stats as sps

from bench.specs import Items, Statistic
from bench.stats import adjust, bootstrap_ci, paired_bootstrap, paired_permutation_test, value


def items(statistic, scale=100.0, **columns):
    n = len(next(iter(columns.values())))
    return Items(statistic, tuple(range(n)), {k: np.asarray(v) for k, v in columns.items()}, scale)


def test_each_statistic_recomputes_the_metric():
    assert value(items(Statistic.MEAN, value=[1, 0, 1, 1])) == 75.0
    assert value(items(Statistic.RATIO, num=[3, 1], den=[4, 2])) == pytest.approx(100 * 4 / 6)  # not mean(3/4, 1/2)
    # tp 3, fp 1, fn 2 -> P 3/4, R 3/5, F1 = 6 / 9
    assert value(items(Statistic.F1, tp=[2, 1], fp=[1, 0], fn=[0, 2])) == pytest.approx(100 * 6 / 9)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    assert value(items(Statistic.PEARSON, x=x, y=x + y)) == pytest.approx(100 * sps.pearsonr(x, x + y)[0])
    ties = np.round(x)  # ties take average ranks, as in scipy
    assert value(items(Statistic.SPEARMAN, x=ties, y=y)) == pytest.approx(100 * sps.spearmanr(ties, y)[0])
    # A = 4 links, S = 3 sure links, A&S = 2, A&P = 3 (P includes S) -> AER = 1 - 5/7
    assert value(items(Statistic.AER, a_s=[1, 1], a_p=[2, 1], a=[2, 2], s=[2, 1])) == pytest.approx(100 * (1 - 5 / 7))


def test_items_refuse_missing_columns_ragged_lengths_and_no_items():
    with pytest.raises(ValueError, match="need columns"):
        Items(Statistic.F1, (0,), {"tp": [1], "fp": [0]})
    with pytest.raises(ValueError, match="column lengths"):
        Items(Statistic.MEAN, (0, 1), {"value": [1]})
    with pytest.raises(ValueError, match="no items"):
        Items(Statistic.MEAN, (), {"value": []})


def test_bootstrap_ci_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(1)
    sample = rng.normal(size=300)
    low, high = bootstrap_ci([items(Statistic.MEAN, scale=1.0, value=sample)], n_resamples=4000, seed=0)
    ref = sps.bootstrap((sample,), np.mean, n_resamples=4000, method="percentile", random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(low - ref.low) < 0.1 * width and abs(high - ref.high) < 0.1 * width
    x = rng.normal(size=200)
    y = 0.5 * x + rng.normal(size=200)
    low, high = bootstrap_ci([items(Statistic.PEARSON, scale=1.0, x=x, y=y)], n_resamples=4000)
    ref = sps.bootstrap((x, y), lambda a, b: sps.pearsonr(a, b)[0], paired=True, vectorized=False,
                        n_resamples=4000, method="percentile", random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(low - ref.low) < 0.1 * width and abs(high - ref.high) < 0.1 * width


def test_bootstrap_over_seeds_widens_the_interval():
    rng = np.random.default_rng(2)
    hits = (rng.random(500) < 0.6).astype(float)
    shifted = np.where(rng.random(500) < 0.2, 1.0, hits)  # a seed that scores higher
    one = bootstrap_ci([items(Statistic.MEAN, value=hits)])
    two = bootstrap_ci([items(Statistic.MEAN, value=hits), items(Statistic.MEAN, value=shifted)])
    assert (two[1] - two[0]) > (one[1] - one[0])
    assert one[0] < value(items(Statistic.MEAN, value=hits)) < one[1] < two[1]


def test_samples_must_be_on_the_same_items():
    a = items(Statistic.MEAN, value=[1, 0, 1])
    reordered = Items(Statistic.MEAN, (2, 1, 0), {"value": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([a], [reordered])
    with pytest.raises(ValueError, match="different statistics"):
        bootstrap_ci([a, items(Statistic.RATIO, num=[1, 0, 1], den=[1, 1, 1])])


def test_paired_tests_find_a_planted_difference_and_none_on_identical_inputs():
    rng = np.random.default_rng(3)
    base = (rng.random(400) < 0.5).astype(float)
    better = np.where(rng.random(400) < 0.15, 1.0, base)  # fixes 15 % of the items, breaks none
    a, b = items(Statistic.MEAN, value=better), items(Statistic.MEAN, value=base)
    result = paired_bootstrap([a], [b])
    assert result.delta == pytest.approx(value(a) - value(b)) and result.delta > 0
    assert result.low > 0 and result.p_value < 0.01
    assert paired_permutation_test(a, b) < 0.01
    same = paired_bootstrap([b], [b])
    assert same.delta == 0 and same.p_value == 1.0 and paired_permutation_test(b, b) == 1.0


def test_permutation_test_matches_scipy_paired_permutation():
    rng = np.random.default_rng(4)
    a = rng.normal(size=60) + 0.3
    b = rng.normal(size=60)
    ours = paired_permutation_test(items(Statistic.MEAN, scale=1.0, value=a), items(Statistic.MEAN, scale=1.0, value=b),
                                   n_resamples=9999)
    ref = sps.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y), permutation_type="samples",
                               n_resamples=9999, random_state=0).pvalue
    assert abs(ours - ref) < 0.02


def test_benjamini_hochberg_by_hand_and_nan_left_out():
    # sorted p: 0.01, 0.02, 0.03, 0.5 (m = 4): p_(i) * m / i = 0.04, 0.04, 0.04, 0.5
    adjusted = adjust([0.03, 0.5, float("nan"), 0.01, 0.02])
    np.testing.assert_allclose(adjusted[[0, 1, 3, 4]], [0.04, 0.5, 0.04, 0.04])
    assert np.isnan(adjusted[2])


# --- macro averages over languages ------------------------------------------------------------

from bench.stats import Stratum, common_items, macro_bootstrap, macro_value  # noqa: E402


def test_one_stratum_macro_bootstrap_is_the_paired_bootstrap():
    rng = np.random.default_rng(5)
    a = [items(Statistic.MEAN, value=rng.random(80) < 0.7) for _ in range(3)]
    b = [items(Statistic.MEAN, value=rng.random(80) < 0.5) for _ in range(2)]
    assert macro_bootstrap([Stratum("de", tuple(a), tuple(b))], seed=3) == paired_bootstrap(a, b, seed=3)


def test_macro_value_averages_a_languages_subsets_first():
    de = Stratum("de", (items(Statistic.MEAN, value=[1, 1]),))
    es_1 = Stratum("es", (items(Statistic.MEAN, value=[0, 0]),))
    es_2 = Stratum("es", (items(Statistic.MEAN, value=[1, 0]),))
    assert macro_value([de, es_1, es_2]) == pytest.approx((100 + 25) / 2)  # not (100 + 0 + 50) / 3


def test_macro_bootstrap_finds_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(7)
    strata_planted, strata_null = [], []
    for lang in ("de", "fr", "zh"):
        gold = rng.random(300) < 0.6
        better = np.where(rng.random(300) < 0.15, True, gold)  # ~6 points better per language
        strata_planted.append(Stratum(lang, (items(Statistic.MEAN, value=better),), (items(Statistic.MEAN, value=gold),)))
        strata_null.append(Stratum(lang, (items(Statistic.MEAN, value=gold),), (items(Statistic.MEAN, value=gold),)))
    planted = macro_bootstrap(strata_planted)
    assert planted.delta > 3 and planted.low > 0 and planted.p_value < 0.01
    null = macro_bootstrap(strata_null)
    assert null.delta == 0 and null.low == null.high == 0 and null.p_value == 1.0


def test_common_items_pairs_by_id():
    a = Items(Statistic.MEAN, ("x", "y", "z"), {"value": np.array([1.0, 0.0, 1.0])})
    b = Items(Statistic.MEAN, ("z", "x"), {"value": np.array([0.0, 1.0])})
    ra, rb = common_items(a, b)
    assert ra.ids == rb.ids == ("x", "z") and rb.columns["value"].tolist() == [1.0, 0.0]
