from pathlib import Path

import pytest

from bench.anchors import dictionary_pairs, monolingual_sentences, parallel_sentences
from bench.textio import DataFormatError
from tasks.bucc import Bucc, half_of, load_bucc
from tasks.sts import Sts, find_sts
from tasks.tatoeba import Tatoeba, find_tatoeba, load_tatoeba


# --- real files ------------------------------------------------------------------------------

def test_tatoeba_languages_come_from_file_names(data_dir):
    langs = Tatoeba().languages(data_dir)
    assert langs == sorted(langs) and {"de", "zh", "ar"} <= set(langs)
    assert find_tatoeba(data_dir / "tatoeba")["zh"].code == "cmn"
    other, english = load_tatoeba(data_dir, "de")
    assert len(other) == len(english) == 1000


def test_bucc_sample_split_and_halves(data_dir):
    assert Bucc().languages(data_dir) == ["zh"]
    corpus = load_bucc(data_dir, "zh", "sample")
    assert (len(corpus.source_ids), len(corpus.english_ids), len(corpus.gold)) == (8624, 13589, 257)
    per_half = [sum(half_of(s) == h for s, _ in corpus.gold) for h in (0, 1)]
    assert sum(per_half) == 257 and min(per_half) > 100  # both halves have enough gold to tune a threshold on


def test_sts_tracks_and_column_languages(data_dir):
    found = find_sts(data_dir / "sts")
    assert set(Sts().languages(data_dir)) == set(found)
    by_name = {s.name: s for subsets in found.values() for s in subsets}
    assert (by_name["sts17-track2"].first_lang, by_name["sts17-track2"].second_lang) == ("en", "ar")
    assert (by_name["sts17-track4a"].first_lang, by_name["sts17-track4a"].second_lang) == ("es", "en")
    assert (by_name["sts17-track4b"].first_lang, by_name["sts17-track4b"].second_lang) == ("en", "es")
    assert len(by_name["sts17-track4b"].gold) == 250  # gold from the separate STS.gs file
    assert len(by_name["stsb-test"].gold) == 1379


def test_parallel_anchor_sources(data_dir):
    pairs = parallel_sentences(data_dir, "ar", 100000, {})
    assert pairs.sources == ("ntrex128.ar", "tatoeba-anki.ara-eng.txt")
    assert len(pairs.pairs) > 10000 - 1000 + 1997  # NTREX-128 + the Anki export (English first, swapped to (ar, en))
    assert all(any("\u0600" <= ch <= "\u06ff" for ch in pair[0]) for pair in pairs.pairs[:2])  # both sources, interleaved
    hindi = parallel_sentences(data_dir, "hi", 100000, {})  # three-column Anki export (with attribution)
    assert hindi.sources == ("ntrex128.hi", "tatoeba-anki.hin-eng.txt") and len(hindi.pairs) > 4800
    assert dictionary_pairs(data_dir, "hi", 50, {}).pairs[0][1].isascii()
    assert monolingual_sentences(data_dir, "hi", 10, {}).sources == ("ntrex128.hi", "tatoeba-anki.hin-eng.txt")


def test_monolingual_text_falls_back_to_panx_without_parallel_data(tmp_path):
    panx = tmp_path / "ner" / "panx" / "hi"
    panx.mkdir(parents=True)
    (panx / "train.tsv").write_text("hi:राम\tB-PER\nहै\tO\n\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no parallel data for hi-en"):
        parallel_sentences(tmp_path, "hi", 10, {})
    texts = monolingual_sentences(tmp_path, "hi", 10, {})
    assert texts.sources[0].startswith("ner/panx/hi/train.tsv") and texts.pairs[0][0] == "राम है"


def test_newstest2017_is_never_used_for_anchors(tmp_path):
    folder = tmp_path / "parallel" / "de-en"
    folder.mkdir(parents=True)
    for year, text in (("2017", "Eval sentence"), ("2018", "Train sentence")):
        (folder / f"newstest{year}.de").write_text(f"{text} de\n")
        (folder / f"newstest{year}.en").write_text(f"{text} en\n")
    pairs = parallel_sentences(tmp_path, "de", 10, {})
    assert pairs.pairs == (("Train sentence de", "Train sentence en"),)
    assert pairs.sources == ("newstest2018.de",)


# --- malformed files (each error names the file and the line) -------------------------------

def _tatoeba(tmp_path: Path, other: str, english: str) -> Path:
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.deu").write_text(other)
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.eng").write_text(english)
    return tmp_path


def test_tatoeba_mismatched_lengths(tmp_path):
    root = _tatoeba(tmp_path, "a\nb\nc\n", "a\nb\n")
    with pytest.raises(DataFormatError, match=r"tatoeba.deu-eng.eng:3: .*line-aligned"):
        load_tatoeba(root, "de")


def test_tatoeba_empty_line(tmp_path):
    root = _tatoeba(tmp_path, "a\n\nc\n", "a\nb\nc\n")
    with pytest.raises(DataFormatError, match=r"tatoeba.deu-eng.deu:2: empty line"):
        load_tatoeba(root, "de")


def test_tatoeba_missing_side(tmp_path):
    (tmp_path / "tatoeba").mkdir()
    (tmp_path / "tatoeba" / "tatoeba.deu-eng.eng").write_text("a\n")
    with pytest.raises(DataFormatError, match=r"tatoeba.deu-eng.deu: missing"):
        load_tatoeba(tmp_path, "de")


def test_missing_task_folder_without_hub_fallback(tmp_path):
    with pytest.raises(FileNotFoundError, match="task data folder missing"):
        Bucc().languages(tmp_path)


def test_missing_local_copy_falls_back_to_the_pinned_hub_revision(tmp_path, monkeypatch):
    import types

    calls = []
    fake = types.SimpleNamespace(
        get_dataset_config_names=lambda path, revision: calls.append((path, revision)) or (
            ["deu-eng"] if "tatoeba" in path else ["en-de"]),
        load_dataset=lambda path, config, split, revision: calls.append((path, config, split, revision)) or (
            [{"sentence1": "Hallo.", "sentence2": "Hello."}, {"sentence1": "Ja.", "sentence2": "Yes."}]
            if config == "deu-eng" else
            [{"sentence1": f"s{i}", "sentence2": f"t{i}", "score": float(i)} for i in range(4)]),
    )
    monkeypatch.setitem(__import__("sys").modules, "datasets", fake)
    monkeypatch.setenv("ALIGNBENCH_HUB", "1")
    assert Tatoeba().languages(tmp_path) == ["de"]
    assert load_tatoeba(tmp_path, "de") == (["Hallo.", "Ja."], ["Hello.", "Yes."])
    assert ("mteb/tatoeba-bitext-mining", "deu-eng", "test", "9080400076fbadbb4c4dcb136ff4eddc40b42553") in calls
    from tasks.sts import load_sts

    subset = load_sts(tmp_path, "en-de")[0]
    assert (subset.first_lang, subset.second_lang, subset.name, len(subset.gold)) == ("en", "de", "sts17-hub", 4)
    assert any(c[-1] == "faeb762787bd10488a50c8b5be4a3b82e411949c" for c in calls)


def test_hub_unreachable_gives_a_clear_error(tmp_path, monkeypatch):
    import types

    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setitem(__import__("sys").modules, "datasets",
                        types.SimpleNamespace(get_dataset_config_names=offline, load_dataset=offline))
    monkeypatch.setenv("ALIGNBENCH_HUB", "1")
    with pytest.raises(FileNotFoundError, match=r"no local copy at .*tatoeba and mteb/tatoeba-bitext-mining@9080400076fb"):
        Tatoeba().languages(tmp_path)


def test_the_hub_is_never_tried_unless_asked_for(tmp_path, monkeypatch):
    import types

    def network(*args, **kwargs):
        raise AssertionError("the hub was contacted")

    monkeypatch.delenv("ALIGNBENCH_HUB", raising=False)
    monkeypatch.setitem(__import__("sys").modules, "datasets",
                        types.SimpleNamespace(get_dataset_config_names=network, load_dataset=network))
    with pytest.raises(FileNotFoundError, match=r"hub fallback .* is off \(set ALIGNBENCH_HUB=1"):
        Tatoeba().languages(tmp_path)
    from tasks.sts import Sts

    with pytest.raises(FileNotFoundError, match="ALIGNBENCH_HUB=1"):
        Sts().languages(tmp_path)


def _bucc(tmp_path: Path, gold: str, zh: str = "zh-1\t你好\n") -> Path:
    folder = tmp_path / "bucc" / "zh-en"
    folder.mkdir(parents=True)
    (folder / "zh-en.sample.zh").write_text(zh)
    (folder / "zh-en.sample.en").write_text("en-1\thello\n")
    (folder / "zh-en.sample.gold").write_text(gold)
    return tmp_path


def test_bucc_gold_with_unknown_id(tmp_path):
    with pytest.raises(DataFormatError, match=r"zh-en.sample.gold:1: .*unknown sentence id"):
        load_bucc(_bucc(tmp_path, "zh-9\ten-1\n"), "zh", "sample")


def test_bucc_sentence_without_tab(tmp_path):
    with pytest.raises(DataFormatError, match=r"zh-en.sample.zh:2: expected 2 tab-separated columns, got 1"):
        load_bucc(_bucc(tmp_path, "zh-1\ten-1\n", zh="zh-1\t你好\nbroken line\n"), "zh", "sample")


def test_sts_bad_score_and_bad_columns(tmp_path):
    folder = tmp_path / "sts" / "sts2017"
    folder.mkdir(parents=True)
    path = folder / "STS.input.track5.en-en.txt"
    path.write_text("a\tb\t1.0\nc\td\tfive\ne\tf\t2\n")
    with pytest.raises(DataFormatError, match=r"STS.input.track5.en-en.txt:2: gold score 'five'"):
        find_sts(tmp_path / "sts")
    path.write_text("a\tb\t1.0\nonly one column\n")
    with pytest.raises(DataFormatError, match=r"STS.input.track5.en-en.txt:2: expected 2 or 3"):
        find_sts(tmp_path / "sts")


def test_parallel_tsv_wrong_columns(tmp_path):
    folder = tmp_path / "parallel" / "fr-en"
    folder.mkdir(parents=True)
    (folder / "pawsx-dev.fr.tsv").write_text("a\tb\t1\nc\td\n")
    (folder / "pawsx-dev.en.tsv").write_text("a\tb\t1\nc\td\t0\n")
    with pytest.raises(DataFormatError, match=r"pawsx-dev.fr.tsv:2: expected 3"):
        parallel_sentences(tmp_path, "fr", 10, {})
