"""Bilingual lexicon induction (BLI) on test dictionaries, with type-level vectors from the encoder.

Test sets, each a subset of the language's rows (direction xx -> en):
- `muse-test`: `dictionaries/muse_test_annotated/<xx>-en.5000-6500.{n,v,a,o}.txt` (nouns, verbs,
  adjectives/adverbs, other; invalid pairs and proper nouns left out, as the annotators recommend);
- `xling`: `dictionaries/xling-eval/en-<xx>/*test*.tsv` (Glavaš et al. 2019), read in reverse.
Word vector: the word encoded alone, mean of its sub-token states at layer L (special tokens
removed), after the method's map (Vulić et al. 2020's isolation setting). Candidates: every
English word of that test dictionary (a few thousand, not a 200k vocabulary, so numbers are not
comparable with MUSE's). A query is correct when the retrieved word is one of its gold
translations. Metrics: P@1 x100 by cosine (main) and by CSLS. The test words are this task's
evaluation texts, so the leakage guard removes them from dictionary anchors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import diagnostics as dg
from bench.encoders.base import Encoder
from bench.languages import PIVOT, language_of
from bench.metrics import hit_items, top1_hits
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import DataFormatError, read_lines
from tasks._common import subdir
from bench.wordvectors import content_tokens, word_spec

MUSE_VALID_CLASSES = ("n", "v", "a", "o")


def _read_pairs(path: Path, reverse: bool) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(read_lines(path, "test dictionary"), 1):
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise DataFormatError(path, number, f"expected 'word<TAB>translation', got {line!r}")
        pairs.append((fields[1], fields[0]) if reverse else (fields[0], fields[1]))
    return pairs


@functools.cache
def test_dictionary_files(data_dir: Path) -> dict[str, list[Path]]:
    """language -> its test dictionary files (MUSE annotated classes n/v/a/o, xling-eval test), by name only."""
    root = subdir(data_dir, "dictionaries")
    found: dict[str, list[Path]] = {}
    for path in sorted((root / "muse_test_annotated").glob(f"*-{PIVOT}.5000-6500.*.txt")):
        if path.name.split(".")[-2] in MUSE_VALID_CLASSES:
            found.setdefault(language_of(path.name.split("-")[0], path), []).append(path)
    for path in sorted((root / "xling-eval").glob(f"{PIVOT}-*/*test*.tsv")):
        found.setdefault(language_of(path.parent.name.split("-", 1)[1], path.parent), []).append(path)
    return dict(sorted(found.items()))


def test_dictionaries(data_dir: Path) -> dict[str, dict[str, tuple[tuple[str, str], ...]]]:
    """language -> subset -> (source word, English word) pairs."""
    root = subdir(data_dir, "dictionaries")
    found: dict[str, dict[str, list]] = {}
    for path in sorted((root / "muse_test_annotated").glob(f"*-{PIVOT}.5000-6500.*.txt")):
        lang, category = path.name.split("-")[0], path.name.split(".")[-2]
        if category in MUSE_VALID_CLASSES:
            found.setdefault(language_of(lang, path), {}).setdefault("muse-test", []).extend(_read_pairs(path, False))
    for path in sorted((root / "xling-eval").glob(f"{PIVOT}-*/*test*.tsv")):
        lang = language_of(path.parent.name.split("-", 1)[1], path.parent)
        found.setdefault(lang, {}).setdefault("xling", []).extend(_read_pairs(path, True))
    return {lang: {subset: tuple(dict.fromkeys(pairs)) for subset, pairs in subsets.items()}
            for lang, subsets in sorted(found.items())}


@task(TaskSpec(
    name="bli",
    version="1",
    protocol="isolated-word-mean-p1",
    metrics=("p1", "p1_csls"),
    main_metric="p1",
    higher_is_better=True,
    granularity=Level.WORD,
    dataset="MUSE annotated test dictionaries (5000-6500) and xling-eval test dictionaries",
    citation="Conneau et al. 2018 (MUSE, CSLS); Glavaš et al. 2019 (xling-eval); Kementchedjhieva et al. 2019 (annotations)",
    summary="word translation retrieval with words encoded in isolation",
    kind="diagnostic",
))
@dataclass(frozen=True)
class Bli:
    csls_k: int = 10

    def languages(self, data_dir: Path) -> list[str]:
        return list(test_dictionary_files(Path(data_dir)))

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return test_dictionary_files(Path(data_dir)).get(language, [])

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def protocol(self, layer: int) -> dict:
        return {"dataset": "muse-test: MUSE 5000-6500 annotated, classes n/v/a/o; xling: xling-eval test, reversed",
                "split": "test only", "layer": layer, "layer_index": "absolute hidden_states index (0 = embeddings)",
                "vectors": "word encoded alone; mean of its sub-token states, special tokens removed",
                "candidates": "every English word of the same test dictionary", "direction": f"xx -> {PIVOT}",
                "metric": f"P@1 x100 (any gold translation), cosine (main) and CSLS k={self.csls_k}"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for lang, subsets in test_dictionaries(Path(data_dir)).items():
            for pairs in subsets.values():
                texts.setdefault(lang, set()).update(a for a, _ in pairs)
                texts.setdefault(PIVOT, set()).update(b for _, b in pairs)
        return texts

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        dictionaries = test_dictionaries(Path(ctx.data_dir))
        if language not in dictionaries:
            raise KeyError(f"no BLI test dictionary for {language!r} (found {sorted(dictionaries)})")
        scores = []
        for subset, pairs in sorted(dictionaries[language].items()):
            queries = list(dict.fromkeys(a for a, _ in pairs))
            candidates = list(dict.fromkeys(b for _, b in pairs))
            column = {word: k for k, word in enumerate(candidates)}
            gold: dict[str, set[int]] = {}
            for a, b in pairs:
                gold.setdefault(a, set()).add(column[b])
            X = word_vectors(encoder, queries, language, ctx.layer)
            Y = word_vectors(encoder, candidates, PIVOT, ctx.layer)
            gold_sets = [gold[q] for q in queries]
            cosine, csls = dg.cosine_matrix(X, Y), dg.csls_matrix(X, Y, self.csls_k)
            scores += [Score("p1", dg.precision_at_1(cosine, gold_sets), len(queries), subset,
                             items=hit_items(top1_hits(cosine, gold_sets), queries)),
                       Score("p1_csls", dg.precision_at_1(csls, gold_sets), len(queries), subset,
                             items=hit_items(top1_hits(csls, gold_sets), queries))]
        return scores


def word_vectors(encoder: Encoder, words: list[str], lang: str, layer: int) -> np.ndarray:
    per_word, _ = content_tokens(encoder, words, lang, layer)
    empty = [w for w, tokens in zip(words, per_word) if not len(tokens)]
    if empty:
        raise ValueError(f"{lang}: {len(empty)} words have no sub-token (e.g. {empty[:3]})")
    return np.stack([tokens.mean(axis=0) for tokens in per_word])
