"""Word alignment against human gold links (the "Align" column of Zhao & Eger 2022, Table 1).

Data: `word-alignment/<left>-<right>/<stem>.src-tgt` (`left words ||| right words`, pre-tokenised)
and the line-aligned `<stem>.gold` (`i-j` sure, `ipj` possible, 1-indexed); one side is English,
the folder name says which is on the left. The language of a cell is the other side. Links that
point past the end of their sentence (quirks of the originals, see SOURCE.md) are dropped and
counted, with file:line, in the row.
Protocol (SimAlign, Jalili Sabet et al. 2020): each side is encoded as one text (its words joined by
spaces), a word's vector is its first sub-token at layer L after the method's map (the harness's
word features; SimAlign aligns sub-words and maps the links back to words, a deviation); cosine
similarity matrix of the two sides; links extracted by Argmax (mutual nearest neighbours, main) and
IterMax (see `itermax_links`). Metrics (Och & Ney 2003) over all links of the file: precision
against sure ∪ possible, recall against sure, F1 x100 (main, the paper reports F-score), AER x100
(lower is better).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.diagnostics import cosine_matrix
from bench.encoders.base import Encoder
from bench.languages import PIVOT, language_of
from bench.metrics import alignment_items, alignment_ratio_items
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Score, Statistic, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import DataFormatError, read_lines
from bench.wordvectors import WORD_FEATURES_NOTE, word_features, word_spec

ROOT = "word-alignment"
Link = tuple[int, int]  # 0-indexed (English word, other-language word)


@dataclass(frozen=True)
class GoldPair:
    """One sentence pair, oriented English first whatever the file's order; links 0-indexed."""

    english: tuple[str, ...]
    other: tuple[str, ...]
    sure: frozenset[Link]
    possible: frozenset[Link]  # the P of Och & Ney: sure links included


@dataclass(frozen=True)
class GoldSet:
    pairs: tuple[GoldPair, ...]
    dropped: tuple[str, ...]  # "file:line: link i-j" of every link that points past its sentence


@dataclass(frozen=True)
class AlignmentFiles:
    texts: Path
    gold: Path
    english_left: bool


@functools.cache
def find_alignment_sets(root: Path) -> dict[str, AlignmentFiles]:
    """Language -> its files, from folder names `<left>-<right>` with English on one side."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        sides = folder.name.split("-")
        if len(sides) != 2 or PIVOT not in sides or sides[0] == sides[1]:
            continue
        texts = sorted(folder.glob("*.src-tgt"))
        if len(texts) != 1:
            raise DataFormatError(folder, None, f"expected one *.src-tgt file, found {len(texts)}")
        lang = language_of(sides[1] if sides[0] == PIVOT else sides[0], folder)
        found[lang] = AlignmentFiles(texts[0], texts[0].with_suffix(".gold"), sides[0] == PIVOT)
    return found


def _parse_links(path: Path, number: int, line: str, n_left: int, n_right: int, dropped: list[str]):
    sure, possible = set(), set()
    for item in line.split():
        kind = "p" if "p" in item else "-"
        left, _, right = item.partition(kind)
        if not (left.isdigit() and right.isdigit()) or int(left) < 1 or int(right) < 1:
            raise DataFormatError(path, number, f"alignment link {item!r} is not i-j or ipj with 1-indexed positions")
        i, j = int(left) - 1, int(right) - 1
        if i >= n_left or j >= n_right:
            dropped.append(f"{path.name}:{number}: link {item} (sentence lengths {n_left}, {n_right})")
            continue
        possible.add((i, j))
        if kind == "-":
            sure.add((i, j))
    return sure, possible


@functools.lru_cache(maxsize=16)
def read_gold_set(files: AlignmentFiles) -> GoldSet:
    texts = read_lines(files.texts, "word-alignment text file")
    gold = read_lines(files.gold, "word-alignment gold file", allow_empty=True)
    if len(gold) != len(texts):
        raise DataFormatError(files.gold, None, f"{len(gold)} lines, but {files.texts.name} has {len(texts)}")
    pairs, dropped = [], []
    for number, (text, links) in enumerate(zip(texts, gold), 1):
        if text.count(" ||| ") != 1:
            raise DataFormatError(files.texts, number, "expected 'left words ||| right words'")
        left, right = (tuple(side.split()) for side in text.split(" ||| "))
        if not left or not right:
            raise DataFormatError(files.texts, number, "a side of the sentence pair is empty")
        sure, possible = _parse_links(files.gold, number, links, len(left), len(right), dropped)
        if not files.english_left:
            left, right = right, left
            sure, possible = {(j, i) for i, j in sure}, {(j, i) for i, j in possible}
        pairs.append(GoldPair(left, right, frozenset(sure), frozenset(possible)))
    return GoldSet(tuple(pairs), tuple(dropped))


def argmax_links(similarity: np.ndarray) -> set[Link]:
    """Mutual argmax: (i, j) where j is i's most similar column and i is j's most similar row."""
    if similarity.size == 0:
        return set()
    best_column, best_row = similarity.argmax(axis=1), similarity.argmax(axis=0)
    return {(i, int(j)) for i, j in enumerate(best_column) if best_row[j] == i}


def itermax_links(similarity: np.ndarray, rounds: int = 2, alpha: float = 0.9) -> set[Link]:
    """IterMax (Jalili Sabet et al. 2020): Argmax, then up to `rounds - 1` more Argmax rounds on the
    similarity re-weighted by 1 where neither word is aligned yet, `alpha` where one is and 0 where both
    are; a round's links between two already-aligned words are discarded. As in the authors' code:
    similarities are (cos + 1) / 2 (so a weight never makes a real entry lose to a masked one),
    pairs with a side of at most two words keep their Argmax links, and the rounds stop once every row
    or every column is aligned or a round adds nothing. Expects cosine similarities."""
    scaled = (similarity + 1) / 2
    links = argmax_links(scaled)
    if min(scaled.shape, default=0) <= 2:
        return links
    for _ in range(rounds - 1):
        row_done, column_done = np.zeros(scaled.shape[0], bool), np.zeros(scaled.shape[1], bool)
        for i, j in links:
            row_done[i] = column_done[j] = True
        if row_done.all() or column_done.all():
            break
        weight = np.clip(alpha * (~row_done[:, None]) + alpha * (~column_done[None, :]), 0.0, 1.0)
        new = {(i, j) for i, j in argmax_links(scaled * weight) if not (row_done[i] and column_done[j])}
        if not new - links:
            break
        links |= new
    return links


def alignment_counts(predicted: set[Link], sure: frozenset[Link], possible: frozenset[Link]) -> np.ndarray:
    """[|A|, |S|, |A ∩ S|, |A ∩ P|] of one sentence pair (P includes S)."""
    return np.array([len(predicted), len(sure), len(predicted & sure), len(predicted & possible)], np.int64)


def alignment_scores(counts: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and AER (x100) from counts summed over sentence pairs (Och & Ney 2003)."""
    a, s, a_s, a_p = (int(c) for c in counts)
    precision = a_p / a if a else 0.0
    recall = a_s / s if s else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    aer = 1 - (a_s + a_p) / (a + s) if a + s else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1, "aer": 100 * aer}


@task(TaskSpec(
    name="align",
    version="1",
    protocol="simalign-firstsubtoken-cos-argmax-f1",
    metrics=("f1", "precision", "recall", "aer", "f1_itermax", "precision_itermax", "recall_itermax", "aer_itermax"),
    main_metric="f1",
    higher_is_better=True,
    lower_is_better=("aer", "aer_itermax"),
    granularity=Level.WORD,
    dataset="gold word alignments (SimAlign / awesome-align test sets: Hansards en-fr, WPT ro-en and en-hi, "
            "KFTT ja-en, Tsinghua zh-en, INESC en-es)",
    citation="Jalili Sabet et al. 2020 (SimAlign); Och & Ney 2003 (AER); Zhao & Eger 2022 (Align column)",
    summary="align the words of gold sentence pairs by mutual nearest neighbours of contextual word vectors",
))
@dataclass(frozen=True)
class WordAlign:
    itermax_rounds: int = 2
    itermax_alpha: float = 0.9

    def languages(self, data_dir: Path) -> list[str]:
        return sorted(find_alignment_sets(Path(data_dir) / ROOT))

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        files = find_alignment_sets(Path(data_dir) / ROOT).get(language)
        return [files.texts, files.gold] if files else []

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def protocol(self, layer: int) -> dict:
        return {"dataset": f"{ROOT}/<left>-<right>/<stem>.src-tgt + .gold (1-indexed; i-j sure, ipj possible)",
                "split": "test, every sentence pair; links past the end of a sentence dropped and counted",
                "layer": layer, "layer_index": "absolute hidden_states index (0 = embeddings)",
                "features": WORD_FEATURES_NOTE + "; the method's map applied to both sides as the method defines",
                "similarity": "cosine, per sentence pair",
                "extraction": f"argmax = mutual nearest neighbours (main); itermax: {self.itermax_rounds} rounds, "
                              f"alpha {self.itermax_alpha}",
                "direction": "symmetric (English side as rows)",
                "metric": "precision vs sure+possible, recall vs sure, F1 x100 (main), AER x100 (Och & Ney), "
                          "links counted over the whole file"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {PIVOT: set()}
        for lang, files in find_alignment_sets(Path(data_dir) / ROOT).items():
            gold = read_gold_set(files)
            texts.setdefault(lang, set()).update(" ".join(p.other) for p in gold.pairs)
            texts[PIVOT].update(" ".join(p.english) for p in gold.pairs)
        return texts

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        files = find_alignment_sets(Path(ctx.data_dir) / ROOT).get(language)
        if files is None:
            raise KeyError(f"no gold word alignments for {language!r} in {Path(ctx.data_dir) / ROOT}")
        gold = read_gold_set(files)
        english = word_features(encoder, [p.english for p in gold.pairs], PIVOT, ctx.layer)
        other = word_features(encoder, [p.other for p in gold.pairs], language, ctx.layer)
        extractors = {"": argmax_links,
                      "_itermax": functools.partial(itermax_links, rounds=self.itermax_rounds, alpha=self.itermax_alpha)}
        per_pair = {suffix: [] for suffix in extractors}
        english_missing = np.split(english.missing, np.cumsum(english.lengths)[:-1])
        other_missing = np.split(other.missing, np.cumsum(other.lengths)[:-1])
        for pair, E, X, e_missing, x_missing in zip(gold.pairs, english.per_sentence(), other.per_sentence(),
                                                    english_missing, other_missing):
            rows, columns = np.flatnonzero(~e_missing), np.flatnonzero(~x_missing)  # words without a vector stay unaligned
            similarity = cosine_matrix(E[rows], X[columns])
            for suffix, extract in extractors.items():
                predicted = {(int(rows[i]), int(columns[j])) for i, j in extract(similarity)}
                per_pair[suffix].append(alignment_counts(predicted, pair.sure, pair.possible))
        per_pair = {suffix: np.stack(rows) for suffix, rows in per_pair.items()}
        counts = {suffix: rows.sum(0) for suffix, rows in per_pair.items()}
        extra = {"dropped_gold_links": len(gold.dropped), "dropped_at": list(gold.dropped[:10]),
                 "sure_links": int(counts[""][1]), "words_without_vector": english.truncated_words + other.truncated_words}
        n = len(gold.pairs)
        return [Score(f"{metric}{suffix}", value, n, extra=extra, items=_items(per_pair[suffix], metric))
                for suffix, total in counts.items() for metric, value in alignment_scores(total).items()]


def _items(per_pair: np.ndarray, metric: str):
    """Per sentence pair outcomes of one alignment metric (bench.metrics builders)."""
    if metric in ("precision", "recall"):
        return alignment_ratio_items(per_pair, metric)
    return alignment_items(per_pair, Statistic.ALIGN_F1 if metric == "f1" else Statistic.AER)
