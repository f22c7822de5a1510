"""Contextual bilingual lexicon induction (CBLI), as in Zhao & Eger 2022.

Data: the language's parallel sentences with English (`parallel/<xx>-en/`, newstest2017 excluded),
word-aligned by eflomal + grow-diag-final-and (`bench.wordalign`, cached). A fixed, evenly spaced
set of sentence pairs is held out as the test set; they are this task's evaluation texts, so the
leakage guard keeps them out of every aligner's anchors. Items: one-to-one links between words in
the held-out pairs, sampled to at most `max_items`. Each side is encoded as the whole sentence
(words joined by spaces) and a word's vector is its first sub-token at layer L, after the method's
map. For each source occurrence, the target occurrence is retrieved among all test target
occurrences; hit = the aligned occurrence itself. Metrics: P@1 x100 by cosine (main) and by CSLS.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import diagnostics as dg
from bench.anchors import parallel_languages, parallel_sentences, resource_files
from bench.encoders.base import Encoder
from bench.languages import PIVOT
from bench.metrics import hit_items, top1_hits
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Resource, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.wordalign import WordAlignedCorpus, align, link_vectors
from bench.wordvectors import WORD_FEATURES_NOTE, word_spec

ALL_PAIRS = 10**9


def held_out_indices(n_pairs: int, n_test: int) -> list[int]:
    """Evenly spaced indices (every source of the interleaved parallel data is represented)."""
    if n_pairs < 2 * n_test:
        raise ValueError(f"only {n_pairs} parallel pairs: need at least {2 * n_test} to hold out {n_test}")
    return list(np.linspace(0, n_pairs - 1, n_test).round().astype(int))


@functools.lru_cache(maxsize=16)
def _all_pairs(data_dir: Path, lang: str) -> tuple[tuple[str, str], ...]:
    return parallel_sentences(data_dir, lang, ALL_PAIRS, {}).pairs


@functools.lru_cache(maxsize=8)
def _aligned(data_dir: Path, lang: str, cache_dir: Path | None) -> WordAlignedCorpus:
    """Once per process: every method x layer cell of a language reads the same alignment, and
    re-tokenising (jieba for Chinese) and re-hashing ~10k pairs per cell only to hit the cache is waste."""
    return align(_all_pairs(data_dir, lang), lang, PIVOT, cache_dir)


@task(TaskSpec(
    name="cbli",
    version="1",
    protocol="parallel-eflomal-gdfa-occurrence-p1",
    metrics=("p1", "p1_csls"),
    main_metric="p1",
    higher_is_better=True,
    granularity=Level.WORD,
    dataset="parallel/<xx>-en (WMT newstest2018/19, PAWS-X dev, Tatoeba), word-aligned with eflomal",
    citation="Zhao & Eger 2022 (CBLI); Östling & Tiedemann 2016 (eflomal)",
    summary="retrieve a word's aligned occurrence among all target occurrences in context",
    kind="diagnostic",
))
@dataclass(frozen=True)
class Cbli:
    test_pairs: int = 500
    max_items: int = 2000
    csls_k: int = 10

    def languages(self, data_dir: Path) -> list[str]:
        return parallel_languages(data_dir)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return resource_files(Resource.PARALLEL_SENTENCES, Path(data_dir), language)

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def protocol(self, layer: int) -> dict:
        return {"dataset": "parallel/<xx>-en, newstest2017 excluded",
                "split": f"{self.test_pairs} evenly spaced sentence pairs held out (banned from anchors); "
                         "the aligner sees all pairs (unsupervised, no embeddings)",
                "alignment": "eflomal model 3, both directions, grow-diag-final-and (NLTK); one-to-one word links",
                "items": f"at most {self.max_items} linked word occurrences (fixed sample)",
                "layer": layer, "layer_index": "absolute hidden_states index (0 = embeddings)",
                "features": WORD_FEATURES_NOTE, "direction": f"xx -> {PIVOT}",
                "metric": f"P@1 x100 among all test target occurrences, cosine (main) and CSLS k={self.csls_k}"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {PIVOT: set()}
        for lang in self.languages(data_dir):
            pairs = _all_pairs(Path(data_dir), lang)
            if len(pairs) < 2 * self.test_pairs:
                continue  # too little data to hold anything out: the task refuses this language
            held = [pairs[i] for i in held_out_indices(len(pairs), self.test_pairs)]
            texts.setdefault(lang, set()).update(a for a, _ in held)
            texts[PIVOT].update(b for _, b in held)
        return texts

    def corpus(self, data_dir: Path, lang: str, cache_dir: Path | None) -> tuple[WordAlignedCorpus, list[int]]:
        corpus = _aligned(Path(data_dir), lang, cache_dir)
        return corpus, held_out_indices(len(corpus), self.test_pairs)

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        corpus, held = self.corpus(ctx.data_dir, language, ctx.cache_dir)
        items = corpus.word_pairs(held)
        if len(items) < 2:
            raise ValueError(f"CBLI {language}: only {len(items)} one-to-one word links in the held-out pairs")
        if len(items) > self.max_items:
            keep = np.sort(np.random.default_rng(0).choice(len(items), self.max_items, replace=False))
            items = [items[i] for i in keep]
        X, Y, kept = link_vectors(encoder, corpus, items, ctx.layer)  # words cut off by max_length are dropped
        link_ids = [f"{s}:{i}:{j}" for (s, i, j), k in zip(items, kept) if k]
        gold = np.arange(len(X))
        cosine, csls = dg.cosine_matrix(X, Y), dg.csls_matrix(X, Y, self.csls_k)
        return [Score("p1", dg.precision_at_1(cosine, gold), len(X), items=hit_items(top1_hits(cosine, gold), link_ids)),
                Score("p1_csls", dg.precision_at_1(csls, gold), len(X), items=hit_items(top1_hits(csls, gold), link_ids))]
