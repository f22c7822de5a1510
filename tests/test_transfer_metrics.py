"""Transfer metrics against reference implementations and hand-checked cases."""

import numpy as np
import pytest
from seqeval.metrics import f1_score

from bench.metrics import attachment_scores, entity_f1, token_accuracy, xtreme_tag_f1


def strict_iob2_entities(tags):
    """Independent reference: an entity is B-X followed by I-X*; a stray I- starts nothing."""
    entities, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if start is not None and tag != f"I-{kind}":
            entities.add((start, i, kind))
            start = None
        if tag.startswith("B-"):
            start, kind = i, tag[2:]
    return entities


def reference_f1(gold, predicted):
    g = {(n, *e) for n, tags in enumerate(gold) for e in strict_iob2_entities(tags)}
    p = {(n, *e) for n, tags in enumerate(predicted) for e in strict_iob2_entities(tags)}
    tp = len(g & p)
    return 0.0 if not tp else 100 * 2 * tp / (len(g) + len(p))


def test_entity_f1_agrees_with_an_independent_count_and_with_seqeval():
    rng = np.random.default_rng(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold = [[tags[i] for i in rng.integers(0, 7, size=rng.integers(1, 12))] for _ in range(300)]
    predicted = [[t if rng.random() < 0.7 else tags[rng.integers(0, 7)] for t in sentence] for sentence in gold]
    ours = entity_f1(gold, predicted)
    assert ours == pytest.approx(reference_f1(gold, predicted), abs=1e-9)
    from seqeval.scheme import IOB2
    assert ours == pytest.approx(100 * f1_score(gold, predicted, mode="strict", scheme=IOB2))
    assert 0 < ours < 100


def test_entity_f1_hand_case():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    # span boundary wrong for PER, LOC right, one spurious ORG made of a stray I- (not an entity in strict mode)
    predicted = [["B-PER", "O", "I-ORG", "B-LOC"]]
    assert entity_f1(gold, predicted) == pytest.approx(100 * 2 * 1 / (2 + 2))


def test_pos_metrics_are_both_present_and_different():
    gold = [["NOUN", "NOUN", "VERB"], ["DET", "NOUN"]]
    predicted = [["NOUN", "VERB", "VERB"], ["DET", "NOUN"]]
    assert token_accuracy(gold, predicted) == pytest.approx(80.0)
    # XTREME variant: runs of one tag are spans; gold spans NOUN[0:2], VERB[2], DET, NOUN -> 2 of 4 match
    assert xtreme_tag_f1(gold, predicted) == pytest.approx(100 * f1_score(gold, predicted))
    assert xtreme_tag_f1(gold, predicted) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="differ"):
        token_accuracy(gold, predicted[:1])


def test_attachment_scores_on_hand_checked_trees():
    # sentence 1: "She reads books ." heads 2 0 2 2, labels nsubj root obj punct
    # sentence 2: "Dogs bark" heads 2 0, labels nsubj root
    gold_heads = [[2, 0, 2, 2], [2, 0]]
    gold_labels = [["nsubj", "root", "obj", "punct"], ["nsubj", "root"]]
    predicted_heads = [[2, 0, 1, 3], [0, 0]]
    predicted_labels = [["nsubj", "root", "obj", "punct"], ["nsubj", "root"]]
    punct = [[False, False, False, True], [False, False]]
    # scored words: She(ok,ok) reads(ok,ok) books(head wrong) Dogs(head wrong) bark(ok,ok) -> UAS 3/5, LAS 3/5
    result = attachment_scores(gold_heads, gold_labels, predicted_heads, predicted_labels, punct)
    assert (result.uas, result.las, result.scored_words) == (pytest.approx(60.0), pytest.approx(60.0), 5)
    predicted_labels[0][0] = "obj"  # right head, wrong label: UAS unchanged, LAS drops
    result = attachment_scores(gold_heads, gold_labels, predicted_heads, predicted_labels, punct)
    assert (result.uas, result.las) == (pytest.approx(60.0), pytest.approx(40.0))
    # punctuation excluded: a wrong head on "." changes nothing, counting it would
    everything = attachment_scores(gold_heads, gold_labels, predicted_heads, predicted_labels, [[False] * 4, [False] * 2])
    assert everything.scored_words == 6 and everything.uas == pytest.approx(50.0)
