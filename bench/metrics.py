"""Small functional metric core; thin wrappers over scipy where a reference exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def correlations(predicted: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation, x100 (the STS convention)."""
    predicted, gold = np.asarray(predicted, np.float64), np.asarray(gold, np.float64)
    if len(predicted) != len(gold) or len(gold) < 3:
        raise ValueError(f"need >= 3 paired scores of equal length, got {len(predicted)} and {len(gold)}")
    return {
        "pearson": 100 * float(stats.pearsonr(predicted, gold).statistic),
        "spearman": 100 * float(stats.spearmanr(predicted, gold).statistic),
    }


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


def prf(predicted: set, gold: set) -> PRF:
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PRF(precision, recall, f1)


def best_threshold(scored: list[tuple[float, object]], gold: set) -> float:
    """The score threshold that maximises F1 of {pair : score >= threshold} against `gold`.

    As in XTREME's BUCC optimisation: walk the candidates from best to worst score and keep the
    cut-off with the highest F1; the threshold is the midpoint to the next candidate's score.
    """
    if not scored or not gold:
        raise ValueError("threshold selection needs candidates and gold pairs")
    ranked = sorted(scored, key=lambda item: -item[0])
    tp, best_f1, best_index = 0, -1.0, 0
    for index, (_, pair) in enumerate(ranked):
        tp += pair in gold
        precision, recall = tp / (index + 1), tp / len(gold)
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        if f1 > best_f1:
            best_f1, best_index = f1, index
    score = ranked[best_index][0]
    following = ranked[best_index + 1][0] if best_index + 1 < len(ranked) else score - 1e-6
    return (score + following) / 2
