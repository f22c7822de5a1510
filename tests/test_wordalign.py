"""Word alignment: tokenisation, one-to-one pair extraction, eflomal + symmetrisation, the cache."""

import pytest

from bench import wordalign
from bench.anchors import parallel_sentences
from bench.wordalign import AlignerConfig, WordAlignedCorpus, align, tokenize


def test_tokenize_splits_punctuation_and_segments_chinese():
    assert tokenize("Hallo, Welt! (ja)", "de") == ["Hallo", ",", "Welt", "!", "(", "ja", ")"]
    assert tokenize("l'homme-orchestre.", "fr") == ["l'homme-orchestre", "."]
    words = tokenize("我们今天去北京。", "zh")
    assert "".join(words) == "我们今天去北京。" and 2 < len(words) < 8 and words[-1] == "。"


def test_word_pairs_keep_one_to_one_links_between_words():
    """Hand-written fixture: 'a' links to two words, ',' is punctuation; only 'b'-'y' survives."""
    corpus = WordAlignedCorpus("de", "en", (("a", "b", ","),), (("x", "x2", "y", ","),),
                               (((0, 0), (0, 1), (1, 2), (2, 3)),), "k", AlignerConfig())
    assert corpus.word_pairs() == [(0, 1, 2)]


def test_eflomal_aligns_real_pairs_and_the_cache_skips_it(tmp_path, data_dir, monkeypatch):
    pairs = parallel_sentences(data_dir, "de", 300, {}).pairs
    corpus = align(pairs, "de", "en", tmp_path)
    assert len(corpus) == 300 and all(corpus.links)
    for s, links in enumerate(corpus.links):
        assert all(0 <= i < len(corpus.source[s]) and 0 <= j < len(corpus.target[s]) for i, j in links)
    found = {(corpus.source[s][i].lower(), corpus.target[s][j].lower()) for s, i, j in corpus.word_pairs()}
    assert {("und", "and"), ("die", "the")} & found  # frequent translations are linked

    def no_aligner(*args):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(wordalign, "_run_eflomal", no_aligner)
    again = align(pairs, "de", "en", tmp_path)
    assert again.links == corpus.links and again.key == corpus.key


def test_empty_side_is_refused():
    with pytest.raises(ValueError, match="pair 2"):
        align([("a", "b"), ("...", "")], "de", "en", None)
