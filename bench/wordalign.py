"""Word alignments of parallel sentences: a reusable dataset of word translation pairs in context.

Pipeline (each step a maintained library, none hand-written):
- words: whitespace tokens with leading/trailing punctuation split off; Chinese is segmented with
  jieba (no spaces to split on);
- alignment: eflomal (Östling & Tiedemann 2016) in both directions;
- symmetrisation: grow-diag-final-and (Koehn et al. 2005) from NLTK.

The result is cached under `<cache>/alignments/<key>.json.gz`, the key being the hash of the tokenised
sentence pairs and of the aligner settings, so that re-reading the same data costs no alignment.
Diagnostics (CBLI) and mapping methods (token-level anchors) read the same cached dataset.
eflomal seeds its Gibbs samplers from the system state, so two fresh caches may differ in a few
links; within one cache the alignments are fixed.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ALIGNER_VERSION = "1"  # bump when tokenisation or the alignment pipeline changes


def _is_punct(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _split_punct(token: str) -> list[str]:
    start, end = 0, len(token)
    while start < end and _is_punct(token[start]):
        start += 1
    while end > start and _is_punct(token[end - 1]):
        end -= 1
    return list(token[:start]) + ([token[start:end]] if start < end else []) + list(token[end:])


def tokenize(text: str, lang: str) -> list[str]:
    """Words of a sentence as the aligner and the encoder both see them."""
    if lang == "zh":
        import jieba

        jieba.setLogLevel(60)
        pieces = [w for w in jieba.lcut(text) if w.strip()]
    else:
        pieces = text.split()
    return [part for piece in pieces for part in _split_punct(piece.strip())]


def is_word(token: str) -> bool:
    """Not punctuation or symbols only (those are dropped from translation pairs)."""
    return any(not _is_punct(c) for c in token)


@dataclass(frozen=True)
class AlignerConfig:
    model: int = 3  # eflomal: 1 = IBM1, 2 = + HMM, 3 = + fertility
    n_samplers: int = 2
    symmetrisation: str = "grow-diag-final-and"
    version: str = ALIGNER_VERSION


@dataclass(frozen=True)
class WordAlignedCorpus:
    """Tokenised sentence pairs (source language -> pivot) with symmetrised word links."""

    lang: str
    pivot: str
    source: tuple[tuple[str, ...], ...]
    target: tuple[tuple[str, ...], ...]
    links: tuple[tuple[tuple[int, int], ...], ...]
    key: str
    config: AlignerConfig

    def __len__(self) -> int:
        return len(self.source)

    def word_pairs(self, sentences: Sequence[int] | None = None) -> list[tuple[int, int, int]]:
        """(sentence, source word, target word) for one-to-one links between words (not punctuation):
        the word translation pairs in context used as CBLI items and as token-level anchors."""
        out = []
        for s in range(len(self)) if sentences is None else sentences:
            links = self.links[s]
            src_count, tgt_count = {}, {}
            for i, j in links:
                src_count[i] = src_count.get(i, 0) + 1
                tgt_count[j] = tgt_count.get(j, 0) + 1
            out.extend((s, i, j) for i, j in links
                       if src_count[i] == 1 and tgt_count[j] == 1
                       and is_word(self.source[s][i]) and is_word(self.target[s][j]))
        return out


def link_vectors(encoder, corpus: WordAlignedCorpus, links: Sequence[tuple[int, int, int]], layer: int):
    """Row-aligned (source, target) word vectors of `links` (sentence, source word, target word): each
    word's first sub-token in its encoded sentence at `layer`. Links whose word has no sub-token (cut off
    by max_length) are dropped; returns (X, Y, kept mask over `links`)."""
    import numpy as np

    from bench.wordvectors import word_features

    sentences = sorted({s for s, _, _ in links})
    position = {s: k for k, s in enumerate(sentences)}
    source = word_features(encoder, [corpus.source[s] for s in sentences], corpus.lang, layer)
    target = word_features(encoder, [corpus.target[s] for s in sentences], corpus.pivot, layer)
    src_start = np.concatenate([[0], np.cumsum(source.lengths)])
    tgt_start = np.concatenate([[0], np.cumsum(target.lengths)])
    rows = np.array([src_start[position[s]] + i for s, i, _ in links], dtype=np.int64)
    cols = np.array([tgt_start[position[s]] + j for s, _, j in links], dtype=np.int64)
    kept = ~source.missing[rows] & ~target.missing[cols]
    return source.vectors[rows[kept]], target.vectors[cols[kept]], kept


def _pharaoh(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def align(pairs: Sequence[tuple[str, str]], lang: str, pivot: str, cache_dir: Path | None,
          config: AlignerConfig = AlignerConfig()) -> WordAlignedCorpus:
    """Align (source text, pivot text) pairs; cached by content. Pairs with an empty side are refused."""
    source = [tuple(tokenize(a, lang)) for a, _ in pairs]
    target = [tuple(tokenize(b, pivot)) for _, b in pairs]
    for number, (s, t) in enumerate(zip(source, target), 1):
        if not s or not t:
            raise ValueError(f"sentence pair {number} ({lang}-{pivot}) has an empty side after tokenisation")
    digest = hashlib.sha256(json.dumps({"config": dataclasses.asdict(config), "lang": lang, "pivot": pivot,
                                        "source": source, "target": target}, ensure_ascii=False).encode())
    key = digest.hexdigest()[:24]
    path = Path(cache_dir) / "alignments" / f"{key}.json.gz" if cache_dir else None
    if path is not None and path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            links = json.load(handle)["links"]
    else:
        links = _run_eflomal(source, target, config)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{key}.{uuid.uuid4().hex[:8]}.tmp")
            with gzip.open(tmp, "wt", encoding="utf-8") as handle:
                json.dump({"lang": lang, "pivot": pivot, "config": dataclasses.asdict(config), "links": links}, handle)
            os.replace(tmp, path)
    return WordAlignedCorpus(lang, pivot, tuple(source), tuple(target),
                             tuple(tuple(tuple(link) for link in sentence) for sentence in links), key, config)


def _run_eflomal(source, target, config: AlignerConfig) -> list[list[list[int]]]:
    import eflomal
    from nltk.translate.gdfa import grow_diag_final_and

    if config.symmetrisation != "grow-diag-final-and":
        raise ValueError(f"unknown symmetrisation {config.symmetrisation!r}")
    aligner = eflomal.Aligner(model=config.model, n_samplers=config.n_samplers)
    with tempfile.TemporaryDirectory(prefix="alignbench-eflomal-") as tmp:
        forward, reverse = Path(tmp) / "fwd", Path(tmp) / "rev"
        aligner.align([" ".join(s) for s in source], [" ".join(t) for t in target],
                      links_filename_fwd=str(forward), links_filename_rev=str(reverse), quiet=True)
        fwd, rev = _pharaoh(forward), _pharaoh(reverse)
    if len(fwd) != len(source) or len(rev) != len(source):
        raise RuntimeError(f"eflomal returned {len(fwd)}/{len(rev)} alignment lines for {len(source)} pairs")
    return [[list(p) for p in sorted(grow_diag_final_and(len(s), len(t), f, r))]
            for s, t, f, r in zip(source, target, fwd, rev)]
