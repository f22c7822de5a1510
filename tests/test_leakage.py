"""Anchors and other training text must never contain evaluation items."""

import pytest

from bench import registry
from bench.anchors import (dictionary_pairs, evaluation_texts, monolingual_sentences, normalize_text,
                           parallel_sentences)

LANGS_WITH_PARALLEL = ["ar", "de", "es", "fr", "hi", "ru", "tr", "zh"]


@pytest.fixture(scope="module")
def banned(data_dir):
    return evaluation_texts(data_dir, registry.load_registry())


def test_evaluation_texts_cover_every_task_language(banned):
    assert {"en", "de", "zh", "ar"} <= set(banned)
    assert len(banned["en"]) > 20000  # Tatoeba + BUCC + STS English sides


@pytest.mark.parametrize("lang", LANGS_WITH_PARALLEL)
def test_parallel_anchors_share_nothing_with_evaluation_data(data_dir, banned, lang):
    pairs = parallel_sentences(data_dir, lang, 10**6, banned)
    assert pairs.pairs
    assert not {normalize_text(a) for a, _ in pairs.pairs} & banned.get(lang, frozenset())
    assert not {normalize_text(b) for _, b in pairs.pairs} & banned["en"]


def test_the_guard_actually_removes_overlap(data_dir, banned):
    # The Anki ar-en export shares short English sentences ("Hi.") with Tatoeba/STS English sides.
    unfiltered = parallel_sentences(data_dir, "ar", 10**6, {})
    filtered = parallel_sentences(data_dir, "ar", 10**6, banned)
    assert filtered.dropped_for_overlap > 0
    assert len(filtered.pairs) < len(unfiltered.pairs)


@pytest.mark.parametrize("lang", ["en", "hi", "de"])
def test_monolingual_text_shares_nothing_with_evaluation_data(data_dir, banned, lang):
    texts = monolingual_sentences(data_dir, lang, 10**6, banned)
    assert not {normalize_text(a) for a, _ in texts.pairs} & banned.get(lang, frozenset())


def test_dictionary_anchors_exclude_muse_test_words(data_dir):
    pairs = dictionary_pairs(data_dir, "de", 10**6, {})
    test_words = set()
    for path in (data_dir / "dictionaries" / "muse_test_annotated").glob("de-en.*.txt"):
        test_words.update(line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines() if line)
    assert test_words and not {a for a, _ in pairs.pairs} & test_words


@pytest.mark.parametrize("lang", ["de", "zh"])
def test_cbli_held_out_pairs_never_reach_parallel_anchors(data_dir, banned, lang):
    from tasks.cbli import Cbli, _all_pairs, held_out_indices

    task = Cbli()
    everything = _all_pairs(data_dir, lang)
    held = [everything[i] for i in held_out_indices(len(everything), task.test_pairs)]
    anchors = parallel_sentences(data_dir, lang, 10**6, banned)
    anchor_sources = {normalize_text(a) for a, _ in anchors.pairs}
    anchor_targets = {normalize_text(b) for _, b in anchors.pairs}
    assert not {normalize_text(a) for a, _ in held} & anchor_sources
    assert not {normalize_text(b) for _, b in held} & anchor_targets
    assert len(anchors.pairs) >= len(everything) - 2 * len(held) - anchors.dropped_for_overlap  # the rest is kept


def test_bli_test_words_never_reach_dictionary_anchors(data_dir, banned):
    from tasks.bli import test_dictionaries

    xling = test_dictionaries(data_dir)["de"]["xling"]
    pairs = dictionary_pairs(data_dir, "de", 10**6, banned)
    assert pairs.dropped_for_overlap > 0  # MUSE shares words with the xling test set: the guard removes them
    assert not {normalize_text(a) for a, _ in pairs.pairs} & {normalize_text(a) for a, _ in xling}


def test_the_guard_cache_is_keyed_by_the_evaluation_files_and_survives_corruption(tmp_path, caplog):
    from tests.helpers import write_fixture_data

    data, cache, reg = write_fixture_data(tmp_path / "data"), tmp_path / "cache", registry.load_registry()
    fresh = evaluation_texts(data, reg)
    assert evaluation_texts(data, reg, cache) == fresh
    stored = list((cache / "guard").glob("*.json"))
    assert len(stored) == 1
    evaluation_texts.cache_clear()  # a new process: the sets come from the file
    assert evaluation_texts(data, reg, cache) == fresh
    stored[0].write_text('{"texts": ')  # torn
    evaluation_texts.cache_clear()
    assert evaluation_texts(data, reg, cache) == fresh
    assert "discarding unreadable" in caplog.text and str(stored[0]) in caplog.text
    sts = data / "sts" / "sts2017" / "STS.input.track5.en-en.txt"
    sts.write_text(sts.read_text() + "A new test item.\tAnother one.\t2.0\n", encoding="utf-8")
    from tasks.sts import parse_sts_file

    evaluation_texts.cache_clear()
    parse_sts_file.cache_clear()  # as in a new process
    changed = evaluation_texts(data, reg, cache)
    assert normalize_text("A new test item.") in changed["en"] and len(list((cache / "guard").glob("*.json"))) == 2


def test_typo_test_sets_and_their_clean_twins_are_guarded(data_dir, banned):
    from tasks._typos import read_panx_typos, read_xnli_typos, typo_files

    for lang, files in typo_files(data_dir, "xnli-typos", "tsv").items():
        for typo in files:
            texts = {normalize_text(t) for p, h, _ in read_xnli_typos(typo.path) for t in (p, h)}
            assert texts <= banned[lang], typo.path
    for lang, files in typo_files(data_dir, "panx-typos", "jsonl").items():
        for typo in files:
            assert {normalize_text(" ".join(w)) for w, _ in read_panx_typos(typo.path)} <= banned[lang], typo.path
    clean_twins = (data_dir / "xnli" / "de" / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert {normalize_text(line.split("\t")[0]) for line in clean_twins} <= banned["de"]
