"""Malformed copies of every real data format: each loader must fail with a DataFormatError naming
the file (and the line where there is one).

Each case copies a few real lines from the data root into the real folder layout under tmp_path,
breaks them in one way, and calls the format's loader directly. The last test loads every real file
of each format through the same loaders, so the checks added here refuse nothing in the real data.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from bench import anchors
from bench.results import read_jsonl
from bench.textio import DataFormatError
from tasks import _ud, bli, bucc, ner, rfeval, sts, tatoeba, xnli
from tasks._wordlevel import read_conllu

REPO = Path(__file__).resolve().parents[1]
_CACHED_MODULES = (_ud, bli, bucc, ner, rfeval, sts, tatoeba, xnli, anchors)


@pytest.fixture(autouse=True)
def _fresh_loader_caches():
    """Several loaders are functools caches keyed by path; start every case from empty ones."""
    def clear():
        for module in _CACHED_MODULES:
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == module.__name__:
                    value.cache_clear()
    clear()
    yield
    clear()


@functools.cache
def _real_lines(data_dir: Path, relative: str) -> tuple[str, ...]:
    return tuple((data_dir / relative).read_text(encoding="utf-8").split("\n"))


class Data:
    """The real data root (read-only) and the tmp root the malformed copy is written to."""

    def __init__(self, real: Path, tmp: Path):
        self.real, self.tmp = real, tmp

    def head(self, relative: str, n: int) -> list[str]:
        """The first n lines of a real file (no newline)."""
        return list(_real_lines(self.real, relative)[:n])

    def sentences(self, relative: str, k: int) -> list[str]:
        """The lines of the first k blank-line-separated blocks of a real file (blank lines kept)."""
        out, seen = [], 0
        for line in _real_lines(self.real, relative):
            out.append(line)
            if not line.strip() and out[:-1] and out[-2].strip():
                seen += 1
                if seen == k:
                    break
        return out

    def write(self, relative: str, lines: list[str] | bytes) -> Path:
        path = self.tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(lines, bytes):
            path.write_bytes(lines)
        else:
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path


@dataclass(frozen=True)
class Expect:
    load: Callable[[], object]  # the loader call that must fail
    path: Path  # the file or folder the message must name
    line: int | None  # the 1-based line the message must name, None when the error is about the file
    fragment: str  # a piece of the message that says what is wrong


def _replace_field(line: str, index: int, value: str, separator: str = "\t") -> str:
    fields = line.split(separator)
    fields[index] = value
    return separator.join(fields)


def _first_word_line(lines: list[str], after: int = 0) -> int:
    """0-based index of the first CoNLL-U word line (digit id) at or after `after`."""
    return next(i for i, line in enumerate(lines) if i >= after and line.split("\t")[0].isdigit())


# --- CoNLL-U (tasks/_wordlevel.read_conllu via tasks/_ud.load_ud) -------------------------------------

UD_TEST = "ud/en/test.conllu"


def conllu_9_columns(d: Data) -> Expect:
    lines = d.sentences(UD_TEST, 2)
    i = _first_word_line(lines, 3)
    lines[i] = "\t".join(lines[i].split("\t")[:9])
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, i + 1, "has 9 columns, expected 10")


def conllu_bad_word_id(d: Data) -> Expect:
    lines = d.sentences(UD_TEST, 2)
    i = _first_word_line(lines, 3) + 1
    lines[i] = _replace_field(lines[i], 0, "two")
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, i + 1, "invalid word id 'two'")


def conllu_id_out_of_sequence(d: Data) -> Expect:
    lines = d.sentences(UD_TEST, 1)
    i = _first_word_line(lines) + 2
    lines[i] = _replace_field(lines[i], 0, "9")
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, i + 1, "out of sequence (expected 3)")


def conllu_head_out_of_range(d: Data) -> Expect:
    lines = d.sentences(UD_TEST, 2)
    i = _first_word_line(lines) + 1
    lines[i] = _replace_field(lines[i], 6, "99")
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, i + 1, "head '99' out of range")


def conllu_bad_range_id(d: Data) -> Expect:
    """A multiword-token id that is not a range: conllu's own parse error, at the sentence's first line."""
    lines = d.sentences(UD_TEST, 2)
    i = _first_word_line(lines)
    lines.insert(i, "1-x\tWhat\t_\t_\t_\t_\t_\t_\t_\t_")
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, 1, "does not parse")


def conllu_comments_only(d: Data) -> Expect:
    lines = d.sentences(UD_TEST, 1)
    first = len(lines) + 1
    lines += [line for line in d.sentences(UD_TEST, 2)[len(lines):] if line.startswith("#")] + [""]
    path = d.write(UD_TEST, lines)
    return Expect(lambda: _ud.load_ud(path), path, first, "sentence without words")


def conllu_not_utf8(d: Data) -> Expect:
    text = "\n".join(d.sentences(UD_TEST, 1)).encode("utf-8").replace(b"What", b"Wh\xffat", 1)
    path = d.write(UD_TEST, text)
    return Expect(lambda: _ud.load_ud(path), path, None, "not UTF-8")


def conllu_folder_not_a_language(d: Data) -> Expect:
    d.write("ud/en/test.conllu", d.sentences(UD_TEST, 1))
    d.write("ud/x1/test.conllu", d.sentences(UD_TEST, 1))
    return Expect(lambda: _ud.ud_files(d.tmp), d.tmp / "ud" / "x1", None, "'x1' in the name is not a language code")


# --- PAN-X token<TAB>IOB2 (tasks/ner.load_panx) and CoNLL-2002 `token POS tag` (tasks/ner.load_conll2002) ---

PANX_DEV = "ner/panx/en/dev.tsv"
CONLL02 = "ner/conll2002/es/esp.testb"


def _panx(d: Data, index: int, tag: str) -> Path:
    lines = d.sentences(PANX_DEV, 3)
    lines[index] = _replace_field(lines[index], 1, tag)
    return d.write(PANX_DEV, lines)


def panx_unknown_type(d: Data) -> Expect:
    path = _panx(d, 0, "B-FOO")
    return Expect(lambda: ner.load_panx(path), path, 1, "entity type 'FOO' is not one of ['LOC', 'ORG', 'PER']")


def panx_misc_is_not_a_panx_type(d: Data) -> Expect:
    path = _panx(d, 1, "I-MISC")
    return Expect(lambda: ner.load_panx(path), path, 2, "entity type 'MISC'")


def panx_bad_prefix(d: Data) -> Expect:
    path = _panx(d, 2, "X-PER")
    return Expect(lambda: ner.load_panx(path), path, 3, "tag 'X-PER' is not in the IOB2 scheme")


def panx_prefix_without_type(d: Data) -> Expect:
    path = _panx(d, 1, "I-")
    return Expect(lambda: ner.load_panx(path), path, 2, "tag 'I-' is not in the IOB2 scheme")


def panx_missing_tag(d: Data) -> Expect:
    lines = d.sentences(PANX_DEV, 3)
    lines[3] = lines[3].split("\t")[0]
    path = d.write(PANX_DEV, lines)
    return Expect(lambda: ner.load_panx(path), path, 4, "expected a token and a tag")


def panx_iob1(d: Data) -> Expect:
    lines = [line.replace("\tB-", "\tI-") for line in d.sentences(PANX_DEV, 3)]
    path = d.write(PANX_DEV, lines)
    return Expect(lambda: ner.load_panx(path), path, None, "looks like IOB1")


def panx_folder_not_a_language(d: Data) -> Expect:
    d.write("ner/panx/x1/dev.tsv", d.sentences(PANX_DEV, 2))
    return Expect(lambda: ner.panx_files(d.tmp), d.tmp / "ner" / "panx" / "x1", None, "not a language code")


def conll2002_unknown_type(d: Data) -> Expect:
    lines = d.sentences(CONLL02, 2)
    lines[0] = _replace_field(lines[0], -1, "B-FOO", " ")
    path = d.write(CONLL02, lines)
    return Expect(lambda: ner.load_conll2002(path, frozenset({"PER", "ORG", "LOC"})), path, 1,
                  "entity type 'FOO' is not one of ['LOC', 'MISC', 'ORG', 'PER']")


def conll2002_bad_prefix(d: Data) -> Expect:
    lines = d.sentences(CONLL02, 2)
    lines[1] = _replace_field(lines[1], -1, "E-LOC", " ")
    path = d.write(CONLL02, lines)
    return Expect(lambda: ner.load_conll2002(path, frozenset({"PER", "ORG", "LOC"})), path, 2, "not in the IOB2 scheme")


def conll2002_tab_separated(d: Data) -> Expect:
    lines = d.sentences(CONLL02, 2)
    lines[2] = lines[2].replace(" ", "\t")
    path = d.write(CONLL02, lines)
    return Expect(lambda: ner.load_conll2002(path, frozenset({"PER"})), path, 3, "expected a token and a tag")


def conll2002_folder_not_a_language(d: Data) -> Expect:
    d.write("ner/conll2002/x1/esp.testb", d.sentences(CONLL02, 2))
    return Expect(lambda: ner.conll2002_files(d.tmp), d.tmp / "ner" / "conll2002" / "x1", None, "not a language code")


# --- Tatoeba LASER pairs (tasks/tatoeba.load_tatoeba, find_tatoeba) ------------------------------------

TATO = "tatoeba/tatoeba.deu-eng."


def tatoeba_line_counts(d: Data) -> Expect:
    d.write(TATO + "deu", d.head(TATO + "deu", 4))
    english = d.write(TATO + "eng", d.head(TATO + "eng", 5))
    return Expect(lambda: tatoeba.load_tatoeba(d.tmp, "de"), english, 5, "5 lines but tatoeba.deu-eng.deu has 4")


def tatoeba_empty_line(d: Data) -> Expect:
    lines = d.head(TATO + "deu", 5)
    lines[2] = "  "
    other = d.write(TATO + "deu", lines)
    d.write(TATO + "eng", d.head(TATO + "eng", 5))
    return Expect(lambda: tatoeba.load_tatoeba(d.tmp, "de"), other, 3, "empty line in Tatoeba pair file")


def tatoeba_missing_side(d: Data) -> Expect:
    d.write(TATO + "eng", d.head(TATO + "eng", 5))
    return Expect(lambda: tatoeba.load_tatoeba(d.tmp, "de"), d.tmp / (TATO + "deu"), None, "missing Tatoeba pair file")


def tatoeba_code_not_a_language(d: Data) -> Expect:
    d.write("tatoeba/tatoeba.x1-eng.x1", d.head(TATO + "deu", 5))
    english = d.write("tatoeba/tatoeba.x1-eng.eng", d.head(TATO + "eng", 5))
    return Expect(lambda: tatoeba.find_tatoeba(d.tmp / "tatoeba"), english, None, "'x1' in the name is not a language code")


# --- STS17 input + gold (tasks/sts.find_sts) and STS-B csv ---------------------------------------------

STS_IN, STS_GS = "sts/sts2017/STS.input.track5.en-en.txt", "sts/sts2017/STS.gs.track5.en-en.txt"
STS_DE = "sts/sts2017/STS.input.extended.de-en.txt"
STSB = "sts/stsbenchmark/sts-test.csv"


def _sts_gold(d: Data, index: int, value: str) -> Path:
    d.write(STS_IN, d.head(STS_IN, 6))
    gold = d.head(STS_GS, 6)
    gold[index] = value
    return d.write(STS_GS, gold)


def sts_gold_nan(d: Data) -> Expect:
    gold = _sts_gold(d, 2, "nan")
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, 3, "gold score 'nan' is not a finite number")


def sts_gold_inf(d: Data) -> Expect:
    gold = _sts_gold(d, 0, "inf")
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, 1, "gold score 'inf' is not a finite number")


def sts_gold_overflow(d: Data) -> Expect:
    gold = _sts_gold(d, 4, "1e999")
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, 5, "gold score '1e999' is not a finite number")


def sts_gold_blank_line(d: Data) -> Expect:
    gold = _sts_gold(d, 3, "")
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, 4, "empty gold score")


def sts_gold_not_a_number(d: Data) -> Expect:
    gold = _sts_gold(d, 1, "4,5")
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, 2, "gold score '4,5' is not a number")


def sts_gold_line_count(d: Data) -> Expect:
    d.write(STS_IN, d.head(STS_IN, 6))
    gold = d.write(STS_GS, d.head(STS_GS, 5))
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), gold, None, "5 gold scores for 6 input lines")


def sts_third_column_nan(d: Data) -> Expect:
    """The de-en file has no gold file: the score is its third column."""
    lines = d.head(STS_DE, 6)
    lines[3] = _replace_field(lines[3], 2, "NaN")
    path = d.write(STS_DE, lines)
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, 4, "gold score 'NaN' is not a finite number")


def sts_input_columns(d: Data) -> Expect:
    lines = d.head(STS_IN, 6)
    lines[5] += "\textra"
    path = d.write(STS_IN, lines)
    d.write(STS_GS, d.head(STS_GS, 6))
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, 6, "expected 2 or 3 tab-separated columns, got 4")


def sts_empty_sentence(d: Data) -> Expect:
    lines = d.head(STS_IN, 6)
    lines[1] = _replace_field(lines[1], 1, " ")
    path = d.write(STS_IN, lines)
    d.write(STS_GS, d.head(STS_GS, 6))
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, 2, "empty sentence")


def sts_code_not_a_language(d: Data) -> Expect:
    path = d.write("sts/sts2017/STS.input.track9.zz-en.txt", d.head(STS_IN, 6))
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, None, "'zz' in the name is not a language code")


def stsb_gold_nan(d: Data) -> Expect:
    lines = d.head(STSB, 5)
    lines[2] = _replace_field(lines[2], 4, "nan")
    path = d.write(STSB, lines)
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, 3, "gold score 'nan' is not a finite number")


def stsb_columns(d: Data) -> Expect:
    lines = d.head(STSB, 5)
    lines[3] = "\t".join(lines[3].split("\t")[:6])
    path = d.write(STSB, lines)
    return Expect(lambda: sts.find_sts(d.tmp / "sts"), path, 4, "expected >= 7 tab-separated columns, got 6")


# --- BUCC id<TAB>text + gold (tasks/bucc.load_bucc) -----------------------------------------------------

BUCC = "bucc/zh-en/zh-en.sample."


def _bucc(d: Data) -> dict[str, list[str]]:
    """A consistent small copy: the first gold pairs and exactly the sentences they name."""
    gold = d.head(BUCC + "gold", 3)
    wanted = {side: {line.split("\t")[k] for line in gold} for k, side in enumerate(("zh", "en"))}
    files = {side: [line for line in _real_lines(d.real, BUCC + side) if line.split("\t")[0] in wanted[side]]
             for side in ("zh", "en")}
    return {**files, "gold": gold}


def _write_bucc(d: Data, files: dict[str, list[str]]) -> dict[str, Path]:
    return {side: d.write(BUCC + side, lines) for side, lines in files.items()}


def bucc_sentence_without_tab(d: Data) -> Expect:
    files = _bucc(d)
    files["zh"][1] = files["zh"][1].replace("\t", " ", 1)
    paths = _write_bucc(d, files)
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), paths["zh"], 2, "expected 2 tab-separated columns, got 1")


def bucc_duplicate_id(d: Data) -> Expect:
    files = _bucc(d)
    files["en"].append(files["en"][0])
    paths = _write_bucc(d, files)
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), paths["en"], len(files["en"]), "duplicate sentence id")


def bucc_empty_sentence(d: Data) -> Expect:
    files = _bucc(d)
    files["en"][2] = files["en"][2].split("\t")[0] + "\t "
    paths = _write_bucc(d, files)
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), paths["en"], 3, "empty sentence")


def bucc_gold_unknown_id(d: Data) -> Expect:
    files = _bucc(d)
    files["gold"][1] = files["gold"][1].split("\t")[0] + "\ten-999999999"
    paths = _write_bucc(d, files)
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), paths["gold"], 2, "unknown sentence id")


def bucc_gold_columns(d: Data) -> Expect:
    files = _bucc(d)
    files["gold"][2] += "\t1"
    paths = _write_bucc(d, files)
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), paths["gold"], 3, "expected 2 tab-separated columns, got 3")


def bucc_code_not_a_language(d: Data) -> Expect:
    files = _bucc(d)
    gold = d.write("bucc/x1-en/x1-en.sample.gold", files["gold"])
    return Expect(lambda: bucc.load_bucc(d.tmp, "zh", "sample"), gold, None, "'x1' in the name is not a language code")


# --- WMT17 DA tsv for RFEval (tasks/rfeval.rfeval_pairs) ------------------------------------------------

WMT = "rfeval/wmt17/testset_de-en.tsv"


def _wmt(d: Data, index: int, column: int, value: str) -> Path:
    lines = d.head(WMT, 6)
    lines[index] = _replace_field(lines[index], column, value)
    return d.write(WMT, lines)


def wmt_bad_header(d: Data) -> Expect:
    path = _wmt(d, 0, 4, "score")
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, 1, "expected a header starting")


def wmt_score_nan(d: Data) -> Expect:
    path = _wmt(d, 2, 4, "nan")
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, 3, "HUMAN_score 'nan' is not a finite number")


def wmt_score_overflow(d: Data) -> Expect:
    path = _wmt(d, 4, 4, "-1e999")
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, 5, "HUMAN_score '-1e999' is not a finite number")


def wmt_score_not_a_number(d: Data) -> Expect:
    path = _wmt(d, 1, 4, "n/a")
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, 2, "HUMAN_score 'n/a' is not a number")


def wmt_columns(d: Data) -> Expect:
    lines = d.head(WMT, 6)
    lines[3] = "\t".join(lines[3].split("\t")[:5])
    path = d.write(WMT, lines)
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, 4, "expected 6 tab-separated columns, got 5")


def wmt_code_not_a_language(d: Data) -> Expect:
    path = d.write("rfeval/wmt17/testset_zz-en.tsv", d.head(WMT, 6))
    return Expect(lambda: rfeval.rfeval_pairs(d.tmp), path, None, "'zz' in the name is not a language code")


# --- XNLI premise<TAB>hypothesis<TAB>label (tasks/xnli.read_nli, xnli_files, item_split) ---------------

XNLI_EN, XNLI_DE = "xnli/en/dev.tsv", "xnli/de/dev.tsv"


def xnli_unknown_label(d: Data) -> Expect:
    lines = d.head(XNLI_EN, 6)
    lines[4] = _replace_field(lines[4], 2, "contradictory")
    path = d.write(XNLI_EN, lines)
    return Expect(lambda: xnli.read_nli(path), path, 5, "unknown label 'contradictory'")


def xnli_label_case(d: Data) -> Expect:
    lines = d.head(XNLI_EN, 6)
    lines[0] = _replace_field(lines[0], 2, "Neutral")
    path = d.write(XNLI_EN, lines)
    return Expect(lambda: xnli.read_nli(path), path, 1, "unknown label 'Neutral'")


def xnli_columns(d: Data) -> Expect:
    lines = d.head(XNLI_EN, 6)
    lines[2] = "\t".join(lines[2].split("\t")[:2])
    path = d.write(XNLI_EN, lines)
    return Expect(lambda: xnli.read_nli(path), path, 3, "expected 3 tab-separated columns, got 2")


def xnli_empty_hypothesis(d: Data) -> Expect:
    lines = d.head(XNLI_EN, 6)
    lines[5] = _replace_field(lines[5], 1, "")
    path = d.write(XNLI_EN, lines)
    return Expect(lambda: xnli.read_nli(path), path, 6, "empty premise or hypothesis")


def xnli_folder_not_a_language(d: Data) -> Expect:
    d.write(XNLI_EN, d.head(XNLI_EN, 6))
    d.write("xnli/x1/dev.tsv", d.head(XNLI_DE, 6))
    return Expect(lambda: xnli.xnli_files(d.tmp), d.tmp / "xnli" / "x1", None, "not a language code")


def xnli_not_line_aligned(d: Data) -> Expect:
    d.write(XNLI_EN, d.head(XNLI_EN, 6))
    german = d.write(XNLI_DE, d.head(XNLI_DE, 5))
    return Expect(lambda: xnli.item_split(d.tmp), german, None, "not line-aligned with the English dev set")


# --- parallel text, PAWS-X tsv, Anki (bench/anchors) ---------------------------------------------------

NEWS, PAWS, ANKI = "parallel/de-en/newstest2019.", "parallel/de-en/pawsx-dev.", "parallel/ar-en/tatoeba-anki.ara-eng.txt"


def _parallel(d: Data, lang: str = "de") -> Callable[[], object]:
    return lambda: anchors.parallel_sentences(d.tmp, lang, 100, {})


def newstest_line_counts(d: Data) -> Expect:
    d.write(NEWS + "de", d.head(NEWS + "de", 6))
    english = d.write(NEWS + "en", d.head(NEWS + "en", 5))
    return Expect(_parallel(d), english, 6, "files must be line-aligned")


def newstest_empty_line(d: Data) -> Expect:
    lines = d.head(NEWS + "de", 6)
    lines[4] = ""
    path = d.write(NEWS + "de", lines)
    d.write(NEWS + "en", d.head(NEWS + "en", 6))
    return Expect(_parallel(d), path, 5, "empty line in parallel text")


def pawsx_columns(d: Data) -> Expect:
    lines = d.head(PAWS + "de.tsv", 5)
    lines[1] = "\t".join(lines[1].split("\t")[:2])
    path = d.write(PAWS + "de.tsv", lines)
    d.write(PAWS + "en.tsv", d.head(PAWS + "en.tsv", 5))
    return Expect(_parallel(d), path, 2, "expected 3 tab-separated columns, got 2")


def pawsx_line_counts(d: Data) -> Expect:
    d.write(PAWS + "de.tsv", d.head(PAWS + "de.tsv", 3))
    english = d.write(PAWS + "en.tsv", d.head(PAWS + "en.tsv", 5))
    return Expect(_parallel(d), english, 4, "parallel TSV: 5 lines but pawsx-dev.de.tsv has 3")


def anki_one_column(d: Data) -> Expect:
    lines = d.head(ANKI, 6)
    lines[3] = lines[3].split("\t")[0]
    path = d.write(ANKI, lines)
    return Expect(_parallel(d, "ar"), path, 4, "expected 2 or 3 tab-separated columns, got 1")


def parallel_folder_not_a_language(d: Data) -> Expect:
    d.write(NEWS + "de", d.head(NEWS + "de", 5))
    d.write(NEWS + "en", d.head(NEWS + "en", 5))
    d.write("parallel/x1-en/newstest2019.x1", d.head(NEWS + "de", 5))
    return Expect(lambda: anchors.parallel_languages(d.tmp), d.tmp / "parallel" / "x1-en", None, "'x1' in the name is not a language code")


def parallel_folder_not_a_language_when_reading(d: Data) -> Expect:
    d.write(NEWS + "de", d.head(NEWS + "de", 5))
    d.write(NEWS + "en", d.head(NEWS + "en", 5))
    d.write("parallel/en-x1/newstest2019.x1", d.head(NEWS + "de", 5))
    return Expect(_parallel(d), d.tmp / "parallel" / "en-x1", None, "'x1' in the name is not a language code")


# --- MUSE dictionaries (bench/anchors.dictionary_pairs) and test dictionaries (tasks/bli) --------------

MUSE, MUSE_TEST = "dictionaries/muse/de-en.txt", "dictionaries/muse_test_annotated/de-en.5000-6500.n.txt"
XLING = "dictionaries/xling-eval/en-de/yacle.test.freq.2k.en-de.tsv"


def _muse(d: Data, index: int, value: str) -> Path:
    lines = d.head(MUSE, 8)
    lines[index] = value
    return d.write(MUSE, lines)


def muse_three_fields(d: Data) -> Expect:
    path = _muse(d, 3, "und\tand\tplus")
    return Expect(lambda: anchors.dictionary_pairs(d.tmp, "de", 100, {}), path, 4, "expected 'word<TAB>translation'")


def muse_empty_translation(d: Data) -> Expect:
    path = _muse(d, 5, "haus\t")
    return Expect(lambda: anchors.dictionary_pairs(d.tmp, "de", 100, {}), path, 6, "expected 'word<TAB>translation'")


def muse_empty_line(d: Data) -> Expect:
    path = _muse(d, 2, "")
    return Expect(lambda: anchors.dictionary_pairs(d.tmp, "de", 100, {}), path, 3, "empty line in MUSE dictionary")


def muse_test_three_columns(d: Data) -> Expect:
    lines = d.head(MUSE_TEST, 6)
    lines[4] += "\tn"
    path = d.write(MUSE_TEST, lines)
    return Expect(lambda: bli.test_dictionaries(d.tmp), path, 5, "expected 'word<TAB>translation'")


def muse_test_code_not_a_language(d: Data) -> Expect:
    path = d.write("dictionaries/muse_test_annotated/x1-en.5000-6500.n.txt", d.head(MUSE_TEST, 6))
    return Expect(lambda: bli.test_dictionaries(d.tmp), path, None, "'x1' in the name is not a language code")


def xling_empty_line(d: Data) -> Expect:
    lines = d.head(XLING, 6)
    lines[1] = "\t"
    path = d.write(XLING, lines)
    return Expect(lambda: bli.test_dictionaries(d.tmp), path, 2, "empty line in test dictionary")


def xling_folder_not_a_language(d: Data) -> Expect:
    d.write("dictionaries/xling-eval/en-x1/yacle.test.freq.2k.en-x1.tsv", d.head(XLING, 6))
    return Expect(lambda: bli.test_dictionaries(d.tmp), d.tmp / "dictionaries" / "xling-eval" / "en-x1", None,
                  "not a language code")


# --- results.jsonl (bench/results.read_jsonl) ----------------------------------------------------------

def _results(d: Data, middle: str) -> Path:
    rows = (REPO / "results" / "results.jsonl").read_text(encoding="utf-8").split("\n")[:2]
    return d.write("results/results.jsonl", [rows[0], middle, rows[1]])


def results_empty_object(d: Data) -> Expect:
    path = _results(d, "{}")
    return Expect(lambda: read_jsonl(path), path, 2, "'cell_id'")


def results_not_json(d: Data) -> Expect:
    path = _results(d, '{"cell_id": "x", ')
    return Expect(lambda: read_jsonl(path), path, 2, "not a JSON object")


def results_not_an_object(d: Data) -> Expect:
    path = _results(d, json.dumps(["cell_id", "x"]))
    return Expect(lambda: read_jsonl(path), path, 2, "not a JSON object (a list)")


CASES = [
    conllu_9_columns, conllu_bad_word_id, conllu_id_out_of_sequence, conllu_head_out_of_range, conllu_bad_range_id,
    conllu_comments_only, conllu_not_utf8, conllu_folder_not_a_language,
    panx_unknown_type, panx_misc_is_not_a_panx_type, panx_bad_prefix, panx_prefix_without_type, panx_missing_tag,
    panx_iob1, panx_folder_not_a_language,
    conll2002_unknown_type, conll2002_bad_prefix, conll2002_tab_separated, conll2002_folder_not_a_language,
    tatoeba_line_counts, tatoeba_empty_line, tatoeba_missing_side, tatoeba_code_not_a_language,
    sts_gold_nan, sts_gold_inf, sts_gold_overflow, sts_gold_blank_line, sts_gold_not_a_number, sts_gold_line_count,
    sts_third_column_nan, sts_input_columns, sts_empty_sentence, sts_code_not_a_language, stsb_gold_nan, stsb_columns,
    bucc_sentence_without_tab, bucc_duplicate_id, bucc_empty_sentence, bucc_gold_unknown_id, bucc_gold_columns,
    bucc_code_not_a_language,
    wmt_bad_header, wmt_score_nan, wmt_score_overflow, wmt_score_not_a_number, wmt_columns, wmt_code_not_a_language,
    xnli_unknown_label, xnli_label_case, xnli_columns, xnli_empty_hypothesis, xnli_folder_not_a_language,
    xnli_not_line_aligned,
    newstest_line_counts, newstest_empty_line, pawsx_columns, pawsx_line_counts, anki_one_column,
    parallel_folder_not_a_language, parallel_folder_not_a_language_when_reading,
    muse_three_fields, muse_empty_translation, muse_empty_line, muse_test_three_columns, muse_test_code_not_a_language,
    xling_empty_line, xling_folder_not_a_language,
    results_empty_object, results_not_json, results_not_an_object,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_malformed_input_names_file_and_line(case, data_dir, tmp_path):
    expect = case(Data(data_dir, tmp_path))
    with pytest.raises(DataFormatError) as info:
        expect.load()
    message = str(info.value)
    assert expect.path.name in message, message
    assert message.startswith(f"{expect.path}:"), message
    assert info.value.path == expect.path and info.value.line == expect.line, message
    if expect.line is not None:
        assert f":{expect.line}:" in message, message
    assert expect.fragment in message, message


def test_the_table_covers_every_format():
    assert len(CASES) >= 32 and len({case.__name__ for case in CASES}) == len(CASES)
    prefixes = {case.__name__.split("_")[0] for case in CASES}
    assert prefixes >= {"conllu", "panx", "conll2002", "tatoeba", "sts", "stsb", "bucc", "wmt", "xnli",
                        "newstest", "pawsx", "anki", "parallel", "muse", "xling", "results"}


# --- every real file of each format loads through the same loaders ------------------------------------

def _real_ud(data: Path) -> int:
    files = [path for roles in _ud.ud_files(data).values() for path in roles.values()]
    assert sorted(files) == sorted((data / "ud").glob("*/*.conllu"))
    return sum(len(read_conllu(path)) for path in files)


def _real_ner(data: Path) -> int:
    panx = sorted((data / "ner" / "panx").glob("*/*.tsv"))
    conll = sorted((data / "ner" / "conll2002").glob("*/*.test[ab]")) + sorted((data / "ner" / "conll2002").glob("*/*.train"))
    assert len(panx) == 18 and len(conll) == 3 and set(ner.panx_files(data)) and set(ner.conll2002_files(data)) == {"es"}
    return sum(len(ner.load_panx(p)) for p in panx) + sum(len(ner.load_conll2002(p, frozenset({"PER"}))) for p in conll)


def _real_sentence_tasks(data: Path) -> int:
    n = sum(len(tatoeba.load_tatoeba(data, lang)[0]) for lang in tatoeba.tatoeba_languages(data))
    subsets = [s for group in sts.find_sts(data / "sts").values() for s in group]
    subsets += [sts._parse_stsb(p) for p in sorted((data / "sts" / "stsbenchmark").glob("sts-*.csv"))]
    n += sum(len(s.gold) for s in subsets)
    n += len(bucc.load_bucc(data, "zh", "sample").gold)
    n += sum(len(pair.human) for pair in rfeval.rfeval_pairs(data).values())
    n += sum(len(xnli.read_nli(path).labels) for path in sorted((data / "xnli").glob("*/*.tsv")))
    return n + len(xnli.item_split(data)["test"])


def _real_anchors(data: Path) -> int:
    n = sum(len(anchors.parallel_sentences(data, lang, 10**9, {}).pairs) for lang in anchors.parallel_languages(data))
    for path in sorted((data / "dictionaries" / "muse").glob("*-en.txt")):  # the direction anchors read
        n += len(anchors.dictionary_pairs(data, path.stem.split("-")[0], 10**9, {}).pairs)
    return n + sum(len(pairs) for subsets in bli.test_dictionaries(data).values() for pairs in subsets.values())


def _real_results(data: Path) -> int:
    return sum(len(read_jsonl(REPO / "results" / name)) for name in ("results.jsonl", "errors.jsonl")
               if (REPO / "results" / name).is_file())


@pytest.mark.parametrize("load", [_real_ud, _real_ner, _real_sentence_tasks, _real_anchors, _real_results],
                         ids=lambda f: f.__name__.removeprefix("_real_"))
def test_every_real_file_still_loads(load, data_dir):
    assert load(data_dir) > 0
