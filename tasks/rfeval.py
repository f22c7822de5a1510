"""RFEval: reference-free MT evaluation on WMT17 segment-level DA (XMoverScore's embedding term).

Data: `rfeval/<name>/testset_<src>-<tgt>.tsv` (header `LP source translation reference HUMAN_score
sentBLEU`), every pair found. The reference is never used for scoring.
Score of a segment: 1 - EMD between the source's and the MT output's token states at layer L
(special tokens removed, uniform token weights, cost = cosine distance of L2-normalised vectors),
solved exactly with POT's network simplex. A mapping method maps the source tokens into English
space first (each side is transformed with its own language's map). Second variant: cosine of the
mean-pooled sentence vectors. Metric: Pearson x100 with the human z-scores (main), Spearman too.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import language_of
from bench.metrics import correlation_items, correlations
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Score, Statistic, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import DataFormatError, parse_finite, read_lines, split_columns
from tasks._common import subdir
from bench.wordvectors import content_tokens, word_spec

HEADER = ("LP", "source", "translation", "reference", "HUMAN_score")
_FILE = re.compile(r"testset_([a-z]{2,3})-([a-z]{2,3})\.tsv$")


@dataclass(frozen=True)
class RfevalPair:
    source_lang: str
    target_lang: str
    sources: tuple[str, ...]
    translations: tuple[str, ...]
    references: tuple[str, ...]
    human: np.ndarray
    path: Path


def read_rfeval(path: Path, source_lang: str, target_lang: str) -> RfevalPair:
    lines = read_lines(path, "RFEval file")
    header = tuple(lines[0].split("\t"))
    if header[: len(HEADER)] != HEADER:
        raise DataFormatError(path, 1, f"expected a header starting {HEADER}, got {header}")
    columns = len(header)
    sources, translations, references, human = [], [], [], []
    for number, line in enumerate(lines[1:], 2):
        fields = split_columns(line, path, number, columns)
        if not fields[1].strip() or not fields[2].strip():
            raise DataFormatError(path, number, "empty source or translation")
        score = parse_finite(fields[4], path, number, "HUMAN_score")
        sources.append(fields[1])
        translations.append(fields[2])
        references.append(fields[3])
        human.append(score)
    if len(sources) < 3:
        raise DataFormatError(path, None, f"only {len(sources)} segments; correlations need at least 3")
    return RfevalPair(source_lang, target_lang, tuple(sources), tuple(translations), tuple(references),
                      np.array(human), path)


@functools.cache
def rfeval_files(data_dir: Path) -> dict[str, Path]:
    """"xx-yy" -> its WMT DA file, by file name only (nothing is read)."""
    found: dict[str, Path] = {}
    for path in sorted(subdir(data_dir, "rfeval").rglob("testset_*.tsv")):
        match = _FILE.search(path.name)
        if match:
            key = f"{language_of(match.group(1), path)}-{language_of(match.group(2), path)}"
            if key in found:
                raise DataFormatError(path, None, f"a second RFEval file for {key} (first: {found[key]})")
            found[key] = path
    return found


def rfeval_pairs(data_dir: Path) -> dict[str, RfevalPair]:
    found: dict[str, RfevalPair] = {}
    for path in sorted(subdir(data_dir, "rfeval").rglob("testset_*.tsv")):
        match = _FILE.search(path.name)
        if not match:
            continue
        src, tgt = language_of(match.group(1), path), language_of(match.group(2), path)
        key = f"{src}-{tgt}"
        if key in found:
            raise DataFormatError(path, None, f"a second RFEval file for {key} (first: {found[key].path})")
        found[key] = read_rfeval(path, src, tgt)
    return found


def emd_similarities(source_tokens: list[np.ndarray], target_tokens: list[np.ndarray]) -> np.ndarray:
    """1 - EMD per segment pair; uniform weights, cosine-distance cost on L2-normalised vectors."""
    import ot

    out = np.empty(len(source_tokens))
    for i, (S, T) in enumerate(zip(source_tokens, target_tokens, strict=True)):
        if not len(S) or not len(T):
            raise ValueError(f"segment {i}: no tokens on one side")
        S = S / np.linalg.norm(S, axis=1, keepdims=True)
        T = T / np.linalg.norm(T, axis=1, keepdims=True)
        cost = np.clip(1.0 - S.astype(np.float64) @ T.astype(np.float64).T, 0.0, None)
        out[i] = 1.0 - ot.emd2(np.full(len(S), 1 / len(S)), np.full(len(T), 1 / len(T)), cost)
    return out


@task(TaskSpec(
    name="rfeval",
    version="1",
    protocol="wmt17-da-xmover-emd-uniform",
    metrics=("pearson", "spearman", "pearson_cosine", "spearman_cosine"),
    main_metric="pearson",
    higher_is_better=True,
    granularity=Level.WORD,
    dataset="WMT17 segment-level DA (newstest2017), via the XMoverScore repository",
    citation="Zhao et al. 2020 (XMoverScore); Bojar et al. 2017 (WMT17)",
    summary="reference-free MT evaluation: EMD of source vs MT tokens, Pearson with human DA",
))
@dataclass(frozen=True)
class Rfeval:
    def languages(self, data_dir: Path) -> list[str]:
        return sorted(rfeval_files(data_dir))

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return [rfeval_files(data_dir)[language]]

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(language.split("-")))

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def protocol(self, layer: int) -> dict:
        return {"dataset": "WMT17 DA (segment level)", "split": "test (no training)", "layer": layer,
                "layer_index": "absolute hidden_states index (0 = embeddings)",
                "score": "1 - EMD(source tokens, MT tokens); special tokens removed; uniform weights; "
                         "cost = 1 - cosine; exact EMD (POT ot.emd2); reference unused",
                "second_score": "cosine of mean-pooled sentence vectors (special tokens included)",
                "direction": "source mapped into the MT output's (English) space",
                "metric": "Pearson x100 with HUMAN_score (main), Spearman x100"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for pair in rfeval_pairs(data_dir).values():
            texts.setdefault(pair.source_lang, set()).update(pair.sources)
            texts.setdefault(pair.target_lang, set()).update(pair.translations + pair.references)
        return texts

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        pairs = rfeval_pairs(ctx.data_dir)
        if language not in pairs:
            raise KeyError(f"no RFEval data for {language!r} under {ctx.data_dir / 'rfeval'} (found {sorted(pairs)})")
        pair = pairs[language]
        source_tokens, source_pooled = content_tokens(encoder, list(pair.sources), pair.source_lang, ctx.layer)
        target_tokens, target_pooled = content_tokens(encoder, list(pair.translations), pair.target_lang, ctx.layer)
        similarity = emd_similarities(source_tokens, target_tokens)
        emd = correlations(similarity, pair.human)
        cosine = (source_pooled * target_pooled).sum(1) / (
            np.linalg.norm(source_pooled, axis=1) * np.linalg.norm(target_pooled, axis=1))
        cos = correlations(cosine, pair.human)
        n = len(pair.human)

        def items(system, statistic):
            return correlation_items(system, pair.human, statistic)

        return [Score("pearson", emd["pearson"], n, items=items(similarity, Statistic.PEARSON)),
                Score("spearman", emd["spearman"], n, items=items(similarity, Statistic.SPEARMAN)),
                Score("pearson_cosine", cos["pearson"], n, items=items(cosine, Statistic.PEARSON)),
                Score("spearman_cosine", cos["spearman"], n, items=items(cosine, Statistic.SPEARMAN))]
