"""BUCC 2018 bitext mining with LASER ratio-margin scoring (Zweigenbaum et al. 2018; Artetxe & Schwenk 2019).

Data: `bucc/<xx>-en/<xx>-en.<split>.{<xx>,en,gold}` in the original id<TAB>sentence format.
Protocol: mean-pooled layer-L states; ratio margin over k=4 neighbours both ways, 'max'
retrieval, greedy 1:1; a score threshold is chosen to maximise F1 on the gold pairs of one half and
applied to the other half. Only the BUCC "sample" split is available locally, so it is split in two
halves by a hash of the source sentence id (gold-linked English sentences follow their source
sentence, other English sentences are split by a hash of their own id). Both directions
(tune on A / test on B and tune on B / test on A) are run; reported F1/P/R are their average.
There is no hub fallback: the hub copies known to us (e.g. mteb/bucc-bitext-mining) keep only the
gold pairs, not the comparable corpora that mining needs, so they cannot give this protocol.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from bench.encoders.base import Encoder
from bench.languages import PIVOT, language_of
from bench.metrics import best_threshold, prf
from bench.registry import task
from bench.retrieval import ratio_margin_mine
from bench.specs import EncodeSpec, Level, Requirement, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import DataFormatError, read_lines, split_columns
from tasks._common import embed, sentence_protocol, sentence_spec, subdir


@dataclass(frozen=True)
class BuccCorpus:
    source_ids: list[str]
    source_texts: list[str]
    english_ids: list[str]
    english_texts: list[str]
    gold: frozenset[tuple[str, str]]


def _read_sentences(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for number, line in enumerate(read_lines(path, "BUCC sentence file"), 1):
        sentence_id, text = split_columns(line, path, number, 2)
        if sentence_id in seen:
            raise DataFormatError(path, number, f"duplicate sentence id {sentence_id!r}")
        if not text.strip():
            raise DataFormatError(path, number, "empty sentence")
        seen.add(sentence_id)
        ids.append(sentence_id)
        texts.append(text)
    return ids, texts


def find_bucc(root: Path, split: str) -> dict[str, Path]:
    found = {}
    for gold in sorted(root.glob(f"*-{PIVOT}/*-{PIVOT}.{split}.gold")):
        code = gold.name.split("-")[0]
        found[language_of(code, gold)] = gold.parent / f"{code}-{PIVOT}.{split}"
    return found


def load_bucc(data_dir: Path, lang: str, split: str) -> BuccCorpus:
    found = find_bucc(subdir(data_dir, "bucc"), split)
    if lang not in found:
        raise KeyError(f"no BUCC {split} files for {lang!r} in {data_dir / 'bucc'} (found {sorted(found)})")
    stem = found[lang]
    code = stem.name.split("-")[0]
    source_ids, source_texts = _read_sentences(Path(f"{stem}.{code}"))
    english_ids, english_texts = _read_sentences(Path(f"{stem}.{PIVOT}"))
    gold_path = Path(f"{stem}.gold")
    known_source, known_english = set(source_ids), set(english_ids)
    gold = set()
    for number, line in enumerate(read_lines(gold_path, "BUCC gold file"), 1):
        source_id, english_id = split_columns(line, gold_path, number, 2)
        if source_id not in known_source or english_id not in known_english:
            raise DataFormatError(gold_path, number, f"gold pair ({source_id}, {english_id}) names an unknown sentence id")
        gold.add((source_id, english_id))
    return BuccCorpus(source_ids, source_texts, english_ids, english_texts, frozenset(gold))


def _half(sentence_id: str) -> int:
    return int(hashlib.sha256(sentence_id.encode()).hexdigest()[:8], 16) % 2


def split_halves(corpus: BuccCorpus) -> list[BuccCorpus]:
    """Two disjoint halves; every gold pair lies entirely inside one half."""
    source_half = {sid: _half(sid) for sid in corpus.source_ids}
    english_half = {eid: _half(eid) for eid in corpus.english_ids}
    for sid, eid in corpus.gold:
        english_half[eid] = source_half[sid]
    halves = []
    for h in (0, 1):
        s = [(i, t) for i, t in zip(corpus.source_ids, corpus.source_texts) if source_half[i] == h]
        e = [(i, t) for i, t in zip(corpus.english_ids, corpus.english_texts) if english_half[i] == h]
        gold = frozenset(p for p in corpus.gold if source_half[p[0]] == h)
        halves.append(BuccCorpus([i for i, _ in s], [t for _, t in s], [i for i, _ in e], [t for _, t in e], gold))
    return halves


@task(TaskSpec(
    name="bucc",
    version="1",
    protocol="laser-ratio-margin-k4-max-2fold-sample",
    metrics=("f1", "precision", "recall"),
    main_metric="f1",
    higher_is_better=True,
    granularity=Level.SENTENCE,
    dataset="BUCC 2018 sample split",
    citation="Zweigenbaum et al. 2018 (BUCC); Artetxe & Schwenk 2019 (ACL)",
    summary="bitext mining from comparable corpora, F1",
))
@dataclass(frozen=True)
class Bucc:
    split: str = "sample"
    k: int = 4

    def languages(self, data_dir: Path) -> list[str]:
        return sorted(find_bucc(subdir(data_dir, "bucc"), self.split))

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return sentence_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        stem = find_bucc(subdir(data_dir, "bucc"), self.split)[language]
        code = stem.name.split("-")[0]
        return [Path(f"{stem}.{code}"), Path(f"{stem}.{PIVOT}"), Path(f"{stem}.gold")]

    def requirements(self) -> frozenset[Requirement]:
        return frozenset()

    def protocol(self, layer: int) -> dict:
        return {**sentence_protocol(layer), "dataset": f"BUCC 2018 {self.split} split",
                "split": "2 halves by sha256(source id) % 2; threshold tuned on one half's gold, applied to the other; both ways averaged",
                "similarity": f"ratio margin, k={self.k}, max retrieval, greedy 1:1", "direction": "xx->en and en->xx candidates (max)",
                "metric": "F1/P/R x100 of mined pairs vs gold"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for lang in self.languages(data_dir):
            corpus = load_bucc(data_dir, lang, self.split)
            texts.setdefault(lang, set()).update(corpus.source_texts)
            texts.setdefault(PIVOT, set()).update(corpus.english_texts)
        return texts

    def mine(self, encoder: Encoder, corpus: BuccCorpus, lang: str, layer: int) -> list[tuple[float, tuple[str, str]]]:
        X = embed(encoder, corpus.source_texts, lang, layer)
        Y = embed(encoder, corpus.english_texts, PIVOT, layer)
        return [(p.score, (corpus.source_ids[p.source], corpus.english_ids[p.target])) for p in ratio_margin_mine(X, Y, self.k)]

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        corpus = load_bucc(ctx.data_dir, language, self.split)
        halves = split_halves(corpus)
        mined = [self.mine(encoder, half, language, ctx.layer) for half in halves]
        folds = []
        for tune, test in ((0, 1), (1, 0)):
            threshold = best_threshold(mined[tune], halves[tune].gold)
            predicted = {pair for score, pair in mined[test] if score >= threshold}
            folds.append((threshold, prf(predicted, halves[test].gold)))
        n = len(corpus.gold)
        extra = {"thresholds": [t for t, _ in folds], "fold_f1": [100 * r.f1 for _, r in folds]}
        return [
            Score("f1", 100 * sum(r.f1 for _, r in folds) / 2, n, extra=extra),
            Score("precision", 100 * sum(r.precision for _, r in folds) / 2, n),
            Score("recall", 100 * sum(r.recall for _, r in folds) / 2, n),
        ]
