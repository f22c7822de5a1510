"""Small functional metric core; thin wrappers over scipy where a reference exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from bench.specs import Items, Statistic


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


# --- per-item outcomes (bench.specs.Items): what each metric above is computed from, item by item -----
# Each builder returns the Items whose statistic gives back the metric's value (the runner checks it), so
# bench.stats can resample them. `ids` name the items; by default their position, which is the same for
# every method because every task scores the same items in the same order.

def _ids(ids, n: int) -> tuple:
    ids = tuple(range(n)) if ids is None else tuple(ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} item ids for {n} items")
    return ids


def top1_hits(scores: np.ndarray, gold) -> np.ndarray:
    """Per query: is its highest-scoring column (ties to the lowest index, numpy's argmax) a gold one?"""
    best = np.argmax(scores, axis=1)
    if isinstance(gold, np.ndarray):
        return best == gold
    if len(gold) != len(best):
        raise ValueError(f"{len(gold)} gold sets for {len(best)} queries")
    return np.array([b in g for b, g in zip(best, gold)], dtype=bool)


def hit_items(hits, ids=None) -> Items:
    """Retrieval or classification: one 0/1 outcome per query; the metric is their mean x100."""
    hits = np.asarray(hits, dtype=np.float64)
    return Items(Statistic.MEAN, _ids(ids, len(hits)), {"value": hits})


def correlation_items(predicted, gold, statistic: Statistic, ids=None) -> Items:
    """STS-style: one (system score, human score) pair per item; the metric is their correlation x100."""
    if statistic not in (Statistic.PEARSON, Statistic.SPEARMAN):
        raise ValueError(f"not a correlation statistic: {statistic!r}")
    x, y = np.asarray(predicted, np.float64), np.asarray(gold, np.float64)
    return Items(statistic, _ids(ids, len(y)), {"x": x, "y": y})


def token_accuracy_items(gold: list[list[str]], predicted: list[list[str]], ids=None) -> Items:
    """Tagging: per sentence, correct tokens over tokens (token_accuracy is their ratio of sums)."""
    _check_aligned(gold, predicted)
    correct = np.array([sum(a == b for a, b in zip(g, p)) for g, p in zip(gold, predicted)], np.float64)
    return Items(Statistic.RATIO, _ids(ids, len(gold)), {"num": correct, "den": np.array([len(g) for g in gold], np.float64)})


def entity_f1_items(gold: list[list[str]], predicted: list[list[str]], ids=None) -> Items:
    """NER: per sentence, true positive, false positive and false negative entities under seqeval's
    strict IOB2 matching (the spans `entity_f1` counts), so the micro F1 over sentences is entity_f1."""
    from seqeval.scheme import IOB2, Entities

    _check_aligned(gold, predicted)
    true = Entities(gold, IOB2, suffix=False).entities
    found = Entities(predicted, IOB2, suffix=False).entities
    tp, fp, fn = (np.zeros(len(gold)) for _ in range(3))
    for k, (t, p) in enumerate(zip(true, found)):
        t, p = {e.to_tuple() for e in t}, {e.to_tuple() for e in p}
        tp[k], fp[k], fn[k] = len(t & p), len(p - t), len(t - p)
    return Items(Statistic.F1, _ids(ids, len(gold)), {"tp": tp, "fp": fp, "fn": fn})


def attachment_items(gold_heads, gold_labels, predicted_heads, predicted_labels, excluded, labelled: bool,
                     ids=None) -> Items:
    """Parsing: per sentence, correctly attached (and, for LAS, labelled) scored words over scored words."""
    correct, scored = [], []
    for gh, gl, ph, pl, ex in zip(gold_heads, gold_labels, predicted_heads, predicted_labels, excluded, strict=True):
        keep = [not skip for skip in ex]
        scored.append(sum(keep))
        correct.append(sum(k and a == c and (not labelled or b == d) for a, b, c, d, k in zip(gh, gl, ph, pl, keep)))
    return Items(Statistic.RATIO, _ids(ids, len(scored)), {"num": np.array(correct, np.float64),
                                                           "den": np.array(scored, np.float64)})


def alignment_items(per_pair_counts: np.ndarray, statistic: Statistic, ids=None) -> Items:
    """Word alignment: per sentence pair the counts |A|, |S|, |A&S|, |A&P| (tasks.word_align's order)."""
    counts = np.asarray(per_pair_counts, np.float64).reshape(-1, 4)
    columns = {"a": counts[:, 0], "s": counts[:, 1], "a_s": counts[:, 2], "a_p": counts[:, 3]}
    if statistic is Statistic.RATIO:
        raise ValueError("use alignment_ratio_items for precision and recall")
    return Items(statistic, _ids(ids, len(counts)), columns)


def alignment_ratio_items(per_pair_counts: np.ndarray, which: str, ids=None) -> Items:
    """Precision (|A&P| / |A|) or recall (|A&S| / |S|) of word alignment as a ratio of per-pair sums."""
    counts = np.asarray(per_pair_counts, np.float64).reshape(-1, 4)
    num, den = {"precision": (counts[:, 3], counts[:, 0]), "recall": (counts[:, 2], counts[:, 1])}[which]
    return Items(Statistic.RATIO, _ids(ids, len(counts)), {"num": num, "den": den})
