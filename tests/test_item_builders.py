"""Each task's per-item outcomes give back the metric it reports (so intervals are built on the right items)."""

import numpy as np
import pytest

from bench import metrics as m
from bench.specs import Statistic
from bench.stats import value
from tasks.word_align import alignment_counts, alignment_scores


def test_hits_reproduce_precision_at_1_with_gold_sets_and_ties():
    scores = np.array([[0.2, 0.9, 0.9], [0.5, 0.1, 0.0], [0.3, 0.3, 0.1]])
    gold = [{2}, {0, 1}, {1}]
    hits = m.top1_hits(scores, gold)
    assert hits.tolist() == [False, True, False]  # ties go to the lowest column, as numpy's argmax
    assert value(m.hit_items(hits)) == pytest.approx(100 / 3)


@pytest.mark.parametrize("statistic", [Statistic.PEARSON, Statistic.SPEARMAN])
def test_correlation_items_reproduce_scipy(statistic):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.integers(0, 5, size=50).astype(float)  # ties in the gold, as STS has
    expected = m.correlations(x, y)[statistic.value]
    assert value(m.correlation_items(x, y, statistic)) == pytest.approx(expected, abs=1e-9)


def test_token_accuracy_items():
    gold, predicted = [["A", "B", "C"], ["A"]], [["A", "C", "C"], ["B"]]
    items = m.token_accuracy_items(gold, predicted)
    assert items.columns["num"].tolist() == [2, 0] and value(items) == pytest.approx(m.token_accuracy(gold, predicted))


def test_entity_items_reproduce_seqeval_strict_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"], ["I-LOC", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG"], ["B-LOC", "O"]]
    items = m.entity_f1_items(gold, predicted)
    # sentence 1: PER span differs (fp + fn), LOC right; 2: ORG right; 3: a lone I- is no entity in strict IOB2
    assert items.columns["tp"].tolist() == [1, 1, 0] and items.columns["fp"].tolist() == [1, 0, 1]
    assert items.columns["fn"].tolist() == [1, 0, 0]
    assert value(items) == pytest.approx(m.entity_f1(gold, predicted))


def test_entity_items_on_random_tags_match_seqeval():
    rng = np.random.default_rng(1)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    gold = [[tags[i] for i in rng.integers(0, 5, size=rng.integers(1, 12))] for _ in range(40)]
    predicted = [[tags[i] if rng.random() < 0.3 else g for i, g in zip(rng.integers(0, 5, size=len(s)), s)] for s in gold]
    assert value(m.entity_f1_items(gold, predicted)) == pytest.approx(m.entity_f1(gold, predicted), abs=1e-9)


def test_attachment_items_skip_excluded_words():
    gh, gl = [[2, 0, 2], [0]], [["nsubj", "root", "punct"], ["root"]]
    ph, pl = [[2, 0, 1], [0]], [["obj", "root", "punct"], ["root"]]
    excluded = [[False, False, True], [False]]
    for labelled, attr in ((False, "uas"), (True, "las")):
        items = m.attachment_items(gh, gl, ph, pl, excluded, labelled=labelled)
        assert value(items) == pytest.approx(getattr(m.attachment_scores(gh, gl, ph, pl, excluded), attr))
    assert m.attachment_items(gh, gl, ph, pl, excluded, labelled=True).columns["num"].tolist() == [1, 1]


def test_alignment_items_reproduce_summed_counts():
    pairs = [({(0, 0), (1, 1)}, {(0, 0)}, {(0, 0), (1, 1)}), ({(0, 1)}, {(0, 0), (1, 1)}, {(0, 0), (1, 1)}),
             ({(0, 0), (2, 2)}, {(0, 0), (2, 2)}, {(0, 0), (2, 2), (1, 2)})]
    per_pair = np.stack([alignment_counts(a, s, p) for a, s, p in pairs])
    expected = alignment_scores(per_pair.sum(0))
    assert value(m.alignment_items(per_pair, Statistic.ALIGN_F1)) == pytest.approx(expected["f1"])
    assert value(m.alignment_items(per_pair, Statistic.AER)) == pytest.approx(expected["aer"])
    for which in ("precision", "recall"):
        assert value(m.alignment_ratio_items(per_pair, which)) == pytest.approx(expected[which])


def test_wrong_number_of_ids_is_refused():
    with pytest.raises(ValueError, match="2 item ids for 3 items"):
        m.hit_items([1, 0, 1], ids=["a", "b"])
