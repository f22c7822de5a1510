"""RFEval and the diagnostics with the real offline encoder on real data (one language each).

The bounds are far from the measured values (README) and far from chance, so they fail when a
protocol breaks (misaligned items, wrong sides, unmapped vectors), not when numbers drift slightly.
"""

from pathlib import Path

import numpy as np
import pytest

from bench.taskapi import TaskContext

pytestmark = pytest.mark.slow

LAYER = 8


@pytest.fixture(scope="module")
def ctx(data_dir, cache_root) -> TaskContext:
    return TaskContext(Path(data_dir), LAYER, 0, cache_root)


def _scores(task, encoder, language, ctx) -> dict:
    return {(s.metric, s.subset): s.value for s in task.evaluate(encoder, language, ctx)}


def test_rfeval_correlates_with_human_judgements(e5, ctx):
    from tasks.rfeval import Rfeval

    scores = _scores(Rfeval(), e5, "de-en", ctx)
    assert scores[("pearson", "")] > 10  # measured: see README; chance is 0 +- 4 for 560 segments
    assert all(np.isfinite(v) for v in scores.values())


def test_cbli_retrieves_aligned_occurrences(e5, ctx):
    from tasks.cbli import Cbli

    scores = _scores(Cbli(test_pairs=200, max_items=500), e5, "de", ctx)
    assert scores[("p1", "")] > 40  # 500 candidates: chance is 0.2
    assert scores[("p1_csls", "")] > 40


def test_bli_finds_translations_among_the_test_words(e5, ctx):
    from tasks.bli import Bli

    scores = _scores(Bli(), e5, "de", ctx)
    assert {subset for _, subset in scores} == {"muse-test", "xling"}
    assert all(value > 15 for value in scores.values())  # about 1,900 candidates


def test_space_diagnostics_on_pud(e5, ctx):
    from tasks.isomorphism import Isomorphism
    from tasks.isotropy import Isotropy
    from tasks.neutrality import Neutrality

    isotropy = _scores(Isotropy(), e5, "de", ctx)
    assert 5 < isotropy[("avg_cosine", "")] < 95  # contextual states are anisotropic, not collapsed
    assert 0 <= isotropy[("partition_ratio", "")] <= 1
    isomorphism = _scores(Isomorphism(), e5, "de", ctx)
    assert isomorphism[("rsim", "")] > 50 and isomorphism[("svg", "")] >= 0
    neutrality = _scores(Neutrality(), e5, "de", ctx)
    assert neutrality[("lid_accuracy", "")] > 80  # an unaligned encoder's vectors give the language away
    assert neutrality[("cosine_gap", "")] > 5


def test_token_level_anchors_pair_translated_words(e5, data_dir, cache_root):
    """The runner's word-alignment anchors: rows are linked words in context, so a row's partner is far
    closer than a random other row (a broken index would make them equal)."""
    from bench.anchors import parallel_sentences
    from bench.diagnostics import cosine_matrix
    from bench.runner import word_anchor_vectors

    texts = parallel_sentences(data_dir, "de", 10**9, {})
    texts = type(texts)(texts.pairs[:400], texts.sources)
    (X, Y), provenance = word_anchor_vectors(e5, texts, "de", LAYER, 1000, cache_root)
    assert len(X) == len(Y) == provenance["word_pairs"] and 500 < len(X) <= 1000
    cos = cosine_matrix(X, Y)
    assert np.diag(cos).mean() > cos.mean() + 0.1
