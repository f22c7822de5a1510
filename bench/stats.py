"""Confidence intervals and paired comparisons from per-item outcomes (a small functional core).

Every function takes `Items` (bench.specs): the per-item columns a Score was computed from and the
`Statistic` that turns them into the number. Resampling is over items (a test set is a sample of its
population); where a result has several seeds (head seeds, training seeds), each bootstrap replicate
also redraws the seeds, so the interval covers both sources of spread.

- `bootstrap_ci`: percentile interval of the statistic (averaged over seeds).
- `paired_bootstrap`: the difference of two methods on the same items, with its percentile interval and
  a two-sided bootstrap p-value (Koehn 2004): twice the share of replicates on the far side of zero, so
  p < 1 - level exactly when zero lies outside the interval.
- `paired_permutation_test`: approximate randomisation (swap the two methods' outcomes item by item),
  for single-seed comparisons; the reference for `paired_bootstrap` in the tests.
- `adjust`: Benjamini-Hochberg over a table of p-values (scipy.stats.false_discovery_control).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.specs import Items, Statistic

CHUNK = 128  # replicates resampled at once (bounds memory at CHUNK x items per column)


def _as_arrays(items: Items) -> dict[str, np.ndarray]:
    return {name: np.asarray(items.columns[name], dtype=np.float64) for name in items.statistic.columns}


def _correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    denominator = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (x * y).sum(-1) / denominator, np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1), 0.0)


def _compute(statistic: Statistic, c: dict[str, np.ndarray]) -> np.ndarray:
    """The statistic along the last axis of every column (one value per leading index)."""
    if statistic is Statistic.MEAN:
        return c["value"].mean(-1)
    if statistic is Statistic.RATIO:
        return _ratio(c["num"].sum(-1), c["den"].sum(-1))
    if statistic is Statistic.F1:
        tp = c["tp"].sum(-1)
        return _ratio(2 * tp, 2 * tp + c["fp"].sum(-1) + c["fn"].sum(-1))
    if statistic is Statistic.PEARSON:
        return _correlation(c["x"], c["y"])
    if statistic is Statistic.SPEARMAN:
        from scipy.stats import rankdata

        return _correlation(rankdata(c["x"], axis=-1), rankdata(c["y"], axis=-1))
    if statistic is Statistic.AER:
        return 1.0 - _ratio(c["a_s"].sum(-1) + c["a_p"].sum(-1), c["a"].sum(-1) + c["s"].sum(-1))
    if statistic is Statistic.ALIGN_F1:
        precision, recall = _ratio(c["a_p"].sum(-1), c["a"].sum(-1)), _ratio(c["a_s"].sum(-1), c["s"].sum(-1))
        return _ratio(2 * precision * recall, precision + recall)
    raise ValueError(f"unknown statistic {statistic!r}")


def value(items: Items) -> float:
    """The statistic on all items, times the scale: what the task reported."""
    return float(items.scale * _compute(items.statistic, _as_arrays(items)))


def _check_same_items(samples: Sequence[Items], what: str) -> None:
    if not samples:
        raise ValueError(f"{what}: no samples")
    first = samples[0]
    for other in samples[1:]:
        if other.statistic is not first.statistic or other.scale != first.scale:
            raise ValueError(f"{what}: samples use different statistics ({first.statistic.value} x{first.scale} vs "
                             f"{other.statistic.value} x{other.scale})")
        if tuple(other.ids) != tuple(first.ids):
            raise ValueError(f"{what}: samples are not on the same items ({len(first.ids)} vs {len(other.ids)} ids, "
                             "or the same ids in another order)")


def _replicates(samples: Sequence[Items], indices: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
    """Per replicate r: mean over the drawn seeds seed_draws[r] of the statistic on items indices[r]."""
    per_seed = np.stack([_compute(s.statistic, {k: v[indices] for k, v in _as_arrays(s).items()}) for s in samples])
    return samples[0].scale * np.take_along_axis(per_seed.T, seed_draws, axis=1).mean(1)


def _draws(rng: np.random.Generator, n_items: int, n_seeds: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, n_items, size=(count, n_items)), rng.integers(0, n_seeds, size=(count, n_seeds))


def _percentile(replicates: np.ndarray, level: float) -> tuple[float, float]:
    finite = replicates[np.isfinite(replicates)]
    if not finite.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(samples: Sequence[Items], n_resamples: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the statistic (mean over seeds), resampling items and seeds."""
    _check_same_items(samples, "bootstrap_ci")
    rng = np.random.default_rng(seed)
    out = []
    for start in range(0, n_resamples, CHUNK):
        indices, seeds = _draws(rng, len(samples[0].ids), len(samples), min(CHUNK, n_resamples - start))
        out.append(_replicates(samples, indices, seeds))
    return _percentile(np.concatenate(out), level)


@dataclass(frozen=True)
class PairedDifference:
    delta: float  # statistic of a minus statistic of b, each averaged over its seeds
    low: float
    high: float
    p_value: float
    n_items: int


def paired_bootstrap(a: Sequence[Items], b: Sequence[Items], n_resamples: int = 1000, level: float = 0.95,
                     seed: int = 0) -> PairedDifference:
    """a minus b on the same items: every replicate draws one set of items for both (the pairing) and
    each side's seeds on its own."""
    _check_same_items(list(a) + list(b), "paired_bootstrap")
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, n_resamples, CHUNK):
        count = min(CHUNK, n_resamples - start)
        indices = rng.integers(0, len(a[0].ids), size=(count, len(a[0].ids)))
        seeds_a = rng.integers(0, len(a), size=(count, len(a)))
        seeds_b = rng.integers(0, len(b), size=(count, len(b)))
        deltas.append(_replicates(a, indices, seeds_a) - _replicates(b, indices, seeds_b))
    deltas = np.concatenate(deltas)
    delta = float(np.mean([value(s) for s in a]) - np.mean([value(s) for s in b]))
    low, high = _percentile(deltas, level)
    finite = deltas[np.isfinite(deltas)]
    p_value = min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0))) if finite.size else float("nan")
    return PairedDifference(delta, low, high, float(p_value), len(a[0].ids))


@dataclass(frozen=True)
class Stratum:
    """One test column of a macro average: its language, and each side's samples (one Items per seed)
    on the same items. `b` is empty for an interval of `a` alone."""

    language: str
    a: tuple
    b: tuple = ()


def _macro_replicates(strata: Sequence[Stratum], rng: np.random.Generator, count: int) -> np.ndarray:
    """Per replicate: macro over languages (columns of a language averaged first) of a - b (or of a)."""
    per_language: dict[str, list[np.ndarray]] = {}
    for stratum in strata:
        n = len(stratum.a[0].ids)
        indices = rng.integers(0, n, size=(count, n))  # one draw of items for both sides: the pairing
        out = _replicates(stratum.a, indices, rng.integers(0, len(stratum.a), size=(count, len(stratum.a))))
        if stratum.b:
            out = out - _replicates(stratum.b, indices, rng.integers(0, len(stratum.b), size=(count, len(stratum.b))))
        per_language.setdefault(stratum.language, []).append(out)
    return np.mean([np.mean(columns, axis=0) for columns in per_language.values()], axis=0)


def macro_value(strata: Sequence[Stratum]) -> float:
    """The observed macro average of a - b (or of a), seeds averaged within each column."""
    per_language: dict[str, list[float]] = {}
    for s in strata:
        observed = np.mean([value(x) for x in s.a]) - (np.mean([value(x) for x in s.b]) if s.b else 0.0)
        per_language.setdefault(s.language, []).append(float(observed))
    return float(np.mean([np.mean(v) for v in per_language.values()]))


def macro_bootstrap(strata: Sequence[Stratum], n_resamples: int = 1000, level: float = 0.95,
                    seed: int = 0) -> PairedDifference:
    """Stratified bootstrap of a macro average over languages (items resampled within each column,
    seeds within each side): for paired strata the difference a - b with a two-sided p-value as in
    `paired_bootstrap`; for unpaired ones the interval of a (p-value against zero, rarely meaningful)."""
    if not strata:
        raise ValueError("macro_bootstrap: no strata")
    for s in strata:
        _check_same_items(list(s.a) + list(s.b), f"macro_bootstrap ({s.language})")
    rng = np.random.default_rng(seed)
    replicates = np.concatenate([_macro_replicates(strata, rng, min(CHUNK, n_resamples - start))
                                 for start in range(0, n_resamples, CHUNK)])
    low, high = _percentile(replicates, level)
    finite = replicates[np.isfinite(replicates)]
    p_value = min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0))) if finite.size else float("nan")
    return PairedDifference(macro_value(strata), low, high, float(p_value), sum(len(s.a[0].ids) for s in strata))


def common_items(a: Items, b: Items) -> tuple[Items, Items]:
    """Both restricted to the ids they share, in a's order (encoders that drop different words)."""
    if tuple(a.ids) == tuple(b.ids):
        return a, b
    position = {item: k for k, item in enumerate(b.ids)}
    keep_a = [k for k, item in enumerate(a.ids) if item in position]
    if not keep_a:
        raise ValueError("the two samples share no item")
    keep_b = [position[a.ids[k]] for k in keep_a]

    def take(items: Items, keep: list[int]) -> Items:
        return Items(items.statistic, tuple(items.ids[k] for k in keep),
                     {c: np.asarray(v)[keep] for c, v in items.columns.items()}, items.scale)

    return take(a, keep_a), take(b, keep_b)


def paired_permutation_test(a: Items, b: Items, n_resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided approximate-randomisation p-value of statistic(a) - statistic(b): each replicate swaps
    the two methods' outcomes on a random half of the items (gold columns are equal, so they stay)."""
    _check_same_items([a, b], "paired_permutation_test")
    rng = np.random.default_rng(seed)
    ca, cb = _as_arrays(a), _as_arrays(b)
    observed = abs(_compute(a.statistic, ca) - _compute(a.statistic, cb))
    extreme = 0
    for start in range(0, n_resamples, CHUNK):
        swap = rng.random((min(CHUNK, n_resamples - start), len(a.ids))) < 0.5
        pa = {k: np.where(swap, cb[k], ca[k]) for k in ca}
        pb = {k: np.where(swap, ca[k], cb[k]) for k in ca}
        extreme += int((np.abs(_compute(a.statistic, pa) - _compute(a.statistic, pb)) >= observed - 1e-12).sum())
    return (extreme + 1) / (n_resamples + 1)


def adjust(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries stay NaN and are left out of the family)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = false_discovery_control(p[finite], method="bh")
    return adjusted
