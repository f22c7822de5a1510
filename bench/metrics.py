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


# --- transfer-task metrics -------------------------------------------------------------------

def token_accuracy(gold: list[list[str]], predicted: list[list[str]]) -> float:
    """Fraction of tokens whose predicted tag equals the gold tag, x100."""
    _check_aligned(gold, predicted)
    total = sum(len(g) for g in gold)
    if not total:
        raise ValueError("no tokens to score")
    return 100 * sum(a == b for g, p in zip(gold, predicted) for a, b in zip(g, p)) / total


def entity_f1(gold: list[list[str]], predicted: list[list[str]]) -> float:
    """Entity-level F1 x100 with seqeval in strict IOB2 mode (an entity counts only if its span and type match)."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    _check_aligned(gold, predicted)
    return 100 * float(f1_score(gold, predicted, mode="strict", scheme=IOB2, zero_division=0))


def xtreme_tag_f1(gold: list[list[str]], predicted: list[list[str]]) -> float:
    """The XTREME POS number: seqeval's default-mode F1 run on raw UPOS tags, x100.

    seqeval then treats runs of one tag as spans, so this is not token accuracy; published POS
    results use either, hence both are reported, each under its own name.
    """
    import warnings

    from seqeval.metrics import f1_score

    _check_aligned(gold, predicted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "NOUN seems not to be NE tag"
        return 100 * float(f1_score(gold, predicted, zero_division=0))


@dataclass(frozen=True)
class AttachmentScores:
    uas: float
    las: float
    scored_words: int


def attachment_scores(gold_heads, gold_labels, predicted_heads, predicted_labels, excluded) -> AttachmentScores:
    """UAS and LAS x100 over the words not flagged in `excluded` (per-sentence sequences)."""
    scored = correct_head = correct_both = 0
    for gh, gl, ph, pl, ex in zip(gold_heads, gold_labels, predicted_heads, predicted_labels, excluded, strict=True):
        if not (len(gh) == len(gl) == len(ph) == len(pl) == len(ex)):
            raise ValueError("gold and predicted trees differ in length")
        for a, b, c, d, skip in zip(gh, gl, ph, pl, ex):
            if skip:
                continue
            scored += 1
            correct_head += a == c
            correct_both += a == c and b == d
    if not scored:
        raise ValueError("no scorable words (all excluded)")
    return AttachmentScores(100 * correct_head / scored, 100 * correct_both / scored, scored)


def accuracy(gold, predicted) -> float:
    gold, predicted = np.asarray(gold), np.asarray(predicted)
    if gold.shape != predicted.shape or not len(gold):
        raise ValueError(f"need equal, non-empty label arrays, got {gold.shape} and {predicted.shape}")
    return 100 * float((gold == predicted).mean())


def _check_aligned(gold, predicted) -> None:
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences differ in number or length")
