"""Semantic textual similarity: SemEval-2017 Task 1 tracks and the STS Benchmark (Cer et al. 2017).

Data: `sts/sts2017/STS.input.<track>.<l1>-<l2>.txt` (sentence1<TAB>sentence2[<TAB>score]) with gold
from `STS.gs.<track>.<pair>.txt` when present, else the third column; `sts/stsbenchmark/sts-test.csv`.
Which column holds which language is not fixed across tracks (track2 ar-en puts English first,
track4a es-en puts Spanish first), so each column's language is identified once per file with
py3langid restricted to the file's two languages, by majority vote (>= 90 % of lines required).
Protocol: mean-pooled layer-L states, cosine of the two sentence vectors vs gold; Spearman (main)
and Pearson x 100. Each (language pair, track) is one subset. Without a local `sts/` folder the STS17
pairs are read from the pinned hub copy `mteb/sts17-crosslingual-sts` (subset name `sts17-hub`).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import language_of, normalize_language
from bench.metrics import correlation_items, correlations
from bench.registry import task
from bench.retrieval import check_same_space
from bench.specs import EncodeSpec, Level, Requirement, Score, Statistic, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import DataFormatError, parse_finite, read_lines, require_file, split_columns
from tasks import _hub
from tasks._common import embed, sentence_protocol, sentence_spec

_STS17_INPUT = re.compile(r"^STS\.input\.(?P<track>[^.]+)\.(?P<l1>[a-z]{2,3})-(?P<l2>[a-z]{2,3})\.txt$")
MIN_LANGUAGE_AGREEMENT = 0.9


@dataclass(frozen=True)
class StsSubset:
    pair: str  # normalised "l1-l2" as in the file name
    name: str  # e.g. "sts17-track4a"
    first_lang: str
    second_lang: str
    first: list[str]
    second: list[str]
    gold: np.ndarray


@functools.cache
def _identifier():
    import py3langid
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(os.path.join(os.path.dirname(py3langid.__file__), MODEL_FILE), norm_probs=False)


def column_languages(path: Path, first: list[str], second: list[str], langs: tuple[str, str]) -> tuple[str, str]:
    if langs[0] == langs[1]:
        return langs
    identifier = _identifier()
    identifier.set_languages(list(langs))
    votes = [Counter(identifier.classify(t)[0] for t in column) for column in (first, second)]
    guess = (votes[0].most_common(1)[0][0], votes[1].most_common(1)[0][0])
    share = min(votes[0][guess[0]] / len(first), votes[1][guess[1]] / len(second))
    if guess[0] == guess[1] or share < MIN_LANGUAGE_AGREEMENT:
        raise DataFormatError(path, None, f"cannot tell which column is {langs[0]} and which {langs[1]} (votes {votes})")
    return guess


def _parse_sts17(path: Path, match: re.Match) -> StsSubset:
    track = match["track"]
    l1, l2 = language_of(match["l1"], path), language_of(match["l2"], path)
    gs_path = path.with_name(f"STS.gs.{track}.{match['l1']}-{match['l2']}.txt")
    lines = read_lines(path, "STS input file")
    gold_lines = read_lines(gs_path, "STS gold file", allow_empty=True) if gs_path.is_file() else None
    if gold_lines is not None and len(gold_lines) != len(lines):
        raise DataFormatError(gs_path, None, f"{len(gold_lines)} gold scores for {len(lines)} input lines in {path.name}")
    first, second, gold = [], [], []
    for number, line in enumerate(lines, 1):
        fields = split_columns(line, path, number, (2, 3))
        raw = gold_lines[number - 1].strip() if gold_lines is not None else (fields[2].strip() if len(fields) == 3 else "")
        if not raw and gold_lines is not None:
            raise DataFormatError(gs_path, number, f"empty gold score (line {number} of {path.name} has no score)")
        if not raw:
            continue  # an unscored pair (no gold file, no third column) is not part of the evaluation
        gold.append(parse_finite(raw, gs_path if gold_lines is not None else path, number, "gold score"))
        if not fields[0].strip() or not fields[1].strip():
            raise DataFormatError(path, number, "empty sentence")
        first.append(fields[0])
        second.append(fields[1])
    if len(gold) < 3:
        raise DataFormatError(path, None, f"only {len(gold)} scored pairs")
    first_lang, second_lang = column_languages(path, first, second, (l1, l2))
    return StsSubset(f"{l1}-{l2}", f"sts17-{track}", first_lang, second_lang, first, second, np.array(gold))


def _parse_stsb(path: Path) -> StsSubset:
    require_file(path, "STS Benchmark file")
    first, second, gold = [], [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if len(row) < 7:
                raise DataFormatError(path, number, f"expected >= 7 tab-separated columns, got {len(row)}")
            gold.append(parse_finite(row[4], path, number, "gold score"))
            first.append(row[5])
            second.append(row[6])
    return StsSubset("en-en", "stsb-test", "en", "en", first, second, np.array(gold))


def sts_files(root: Path) -> dict[str, list[Path]]:
    """Language pair ('ar-en', 'es-en', ...) -> its input files (STS17 inputs, STS-B test), by name only."""
    found: dict[str, list[Path]] = {}
    for path in sorted((root / "sts2017").glob("STS.input.*.txt")):
        match = _STS17_INPUT.match(path.name)
        if match is None:
            raise DataFormatError(path, None, "unrecognised STS17 file name (want STS.input.<track>.<l1>-<l2>.txt)")
        found.setdefault(f"{language_of(match['l1'], path)}-{language_of(match['l2'], path)}", []).append(path)
    stsb = root / "stsbenchmark" / "sts-test.csv"
    if stsb.is_file():
        found.setdefault("en-en", []).append(stsb)
    return found


def gold_file(path: Path) -> Path | None:
    """The separate gold file of an STS17 input file, where the data has one."""
    match = _STS17_INPUT.match(path.name)
    gold = path.with_name(f"STS.gs.{match['track']}.{match['l1']}-{match['l2']}.txt") if match else None
    return gold if gold is not None and gold.is_file() else None


@functools.cache
def parse_sts_file(path: Path) -> StsSubset:
    match = _STS17_INPUT.match(path.name)
    return _parse_sts17(path, match) if match else _parse_stsb(path)


def find_sts(root: Path) -> dict[str, list[StsSubset]]:
    """Subsets grouped by language pair; parses every file (a malformed one raises naming itself)."""
    return {pair: [parse_sts_file(path) for path in paths] for pair, paths in sts_files(root).items()}


@functools.cache
def _from_hub(data_dir: Path) -> dict[str, list[StsSubset]]:
    """STS17 from the pinned hub copy; its config 'l1-l2' puts l1 in sentence1 and l2 in sentence2."""
    local = str(Path(data_dir) / "sts")
    found = {}
    for config in _hub.configs(_hub.STS17, local):
        l1, l2 = (normalize_language(c) for c in config.split("-"))
        pairs = _hub.rows(_hub.STS17, config, local)
        found[f"{l1}-{l2}"] = [StsSubset(f"{l1}-{l2}", "sts17-hub", l1, l2, [r["sentence1"] for r in pairs],
                                         [r["sentence2"] for r in pairs], np.array([float(r["score"]) for r in pairs]))]
    return found


def sts_subsets(data_dir: Path) -> dict[str, list[StsSubset]]:
    root = Path(data_dir) / "sts"
    return find_sts(root) if root.is_dir() else _from_hub(data_dir)


def load_sts(data_dir: Path, pair: str) -> list[StsSubset]:
    """The subsets of one language pair; only that pair's files are read."""
    root = Path(data_dir) / "sts"
    found = sts_files(root) if root.is_dir() else _from_hub(data_dir)
    if pair not in found:
        raise KeyError(f"no STS data for {pair!r} in {root} (found {sorted(found)})")
    return [parse_sts_file(path) for path in found[pair]] if root.is_dir() else found[pair]


@task(TaskSpec(
    name="sts",
    version="1",
    protocol="sts-cosine-meanpool",
    metrics=("spearman", "pearson"),
    main_metric="spearman",
    higher_is_better=True,
    granularity=Level.SENTENCE,
    dataset="SemEval-2017 STS (all tracks found) + STS Benchmark test",
    citation="Cer et al. 2017 (SemEval)",
    summary="cosine similarity vs human scores, Spearman",
))
@dataclass(frozen=True)
class Sts:
    def languages(self, data_dir: Path) -> list[str]:
        root = Path(data_dir) / "sts"
        return sorted(sts_files(root) if root.is_dir() else _from_hub(data_dir))

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        root = Path(data_dir) / "sts"
        inputs = sts_files(root).get(language, []) if root.is_dir() else []
        return inputs + [gold for gold in map(gold_file, inputs) if gold is not None]

    def requirements(self) -> frozenset[Requirement]:
        return frozenset()

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(language.split("-")))

    def encode_spec(self, layer: int) -> EncodeSpec:
        return sentence_spec(layer)

    def protocol(self, layer: int) -> dict:
        return {**sentence_protocol(layer), "dataset": "STS17 test tracks + STS-B test", "split": "test (zero-shot, no training)",
                "similarity": "cosine", "direction": "symmetric", "metric": "Spearman (main) and Pearson x100 per subset"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for subsets in sts_subsets(data_dir).values():
            for s in subsets:
                texts.setdefault(s.first_lang, set()).update(s.first)
                texts.setdefault(s.second_lang, set()).update(s.second)
        return texts

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        scores = []
        for subset in load_sts(ctx.data_dir, language):
            A = embed(encoder, subset.first, subset.first_lang, ctx.layer)
            B = embed(encoder, subset.second, subset.second_lang, ctx.layer)
            check_same_space(A, B)
            cosine = (A * B).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
            for metric, value in correlations(cosine, subset.gold).items():
                scores.append(Score(metric, value, len(subset.gold), subset=subset.name,
                                    items=correlation_items(cosine, subset.gold, Statistic(metric))))
        return scores
