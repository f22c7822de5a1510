"""Word and token vectors from an encoder: the one place that maps words to sub-tokens.

Words are encoded as one text: the words joined by single spaces (as XTREME does, since PAN-X has
no raw text and UD multiword tokens are split into syntactic words). Each word's character span
in that text is known exactly, and the tokenizer's offsets map it to its sub-tokens; words are
never re-tokenised one by one. A word is represented by its FIRST sub-token. Used by the
word-level tasks, the diagnostics and the runner's token-level anchors.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.encoders.base import Encoder, check_finite
from bench.specs import EncodeSpec, Pooling

WORD_FEATURES_NOTE = ("first sub-token of each word (words joined by single spaces, mapped to sub-tokens through "
                      "the tokenizer's character offsets)")


def word_spec(layer: int) -> EncodeSpec:
    return EncodeSpec(layers=(layer,), pooling=Pooling.MEAN, max_length=512, prefix="", dtype="float32", keep_tokens=True)


def content_tokens(encoder: Encoder, texts: list[str], lang: str, layer: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Per text: token states without special tokens (offsets (0, 0)); and the mean-pooled vectors."""
    emb = encoder.encode(texts, lang, word_spec(layer))
    tokens = check_finite(np.asarray(emb.tokens[layer], np.float32), f"{lang} token states")
    starts = np.concatenate([[0], np.cumsum(emb.lengths)])
    real = emb.offsets[:, 1] > emb.offsets[:, 0]
    per_text = [tokens[a:b][real[a:b]] for a, b in zip(starts[:-1], starts[1:])]
    return per_text, np.asarray(emb.pooled[layer], np.float32)


def join_words(words: tuple[str, ...]) -> tuple[str, np.ndarray]:
    """The text the encoder sees and each word's [start, end) character span in it."""
    spans, position = [], 0
    for word in words:
        spans.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), np.array(spans, dtype=np.int64).reshape(-1, 2)


def first_subtokens(token_offsets: np.ndarray, word_spans: np.ndarray) -> np.ndarray:
    """Index of each word's first sub-token (the first token whose span overlaps the word), -1 if none.

    Offsets of special tokens are (0, 0) and never overlap a word; a word cut off by truncation gets -1.
    Token spans of one text are ordered, so a binary search finds the first token ending after the
    word's start; it is the word's if it also starts before the word's end.
    """
    token_offsets = np.asarray(token_offsets).reshape(-1, 2)
    word_spans = np.asarray(word_spans).reshape(-1, 2)
    real = np.nonzero(token_offsets[:, 1] > token_offsets[:, 0])[0]
    starts, ends = token_offsets[real, 0], token_offsets[real, 1]
    result = np.full(len(word_spans), -1, dtype=np.int64)
    if not len(real):
        return result
    candidate = np.searchsorted(ends, word_spans[:, 0], side="right")
    inside = candidate < len(real)
    hit = inside.copy()
    hit[inside] = starts[candidate[inside]] < word_spans[inside, 1]
    result[hit] = real[candidate[hit]]
    return result


@dataclass(frozen=True)
class WordFeatures:
    """One vector per word for a list of sentences: `vectors` [W, H] in sentence order."""

    vectors: np.ndarray
    lengths: np.ndarray  # words per sentence
    missing: np.ndarray  # [W] bool: words with no sub-token (cut off by max_length, or characters the
    #                      tokenizer drops, e.g. zero-width marks); their vectors are zero, before and after mapping

    @property
    def truncated_words(self) -> int:
        return int(self.missing.sum())

    def per_sentence(self) -> list[np.ndarray]:
        return np.split(self.vectors, np.cumsum(self.lengths)[:-1])


_RAW_MEMO: "OrderedDict[str, WordFeatures]" = OrderedDict()
_RAW_MEMO_SIZE = 4


def word_features(encoder: Encoder, sentences: Sequence[Sequence[str]], lang: str, layer: int) -> WordFeatures:
    """First-sub-token vectors of every word; the encoder sees each sentence as one text.

    For an aligned encoder (a base encoder plus a fitted row-wise map), the base's word vectors are
    memoised in this process and mapped afterwards: every cell of a grid re-reads the same English
    training data, and only the map differs between cells.
    """
    from bench.alignment import AlignedEncoder

    if not isinstance(encoder, AlignedEncoder):
        return _word_features(encoder, sentences, lang, layer)
    base, aligner = encoder.base, encoder.aligner
    digest = hashlib.sha256(json.dumps([base.fingerprint, lang, layer, [list(w) for w in sentences]]).encode()).hexdigest()
    raw = _RAW_MEMO.get(digest)
    if raw is None:
        raw = _word_features(base, sentences, lang, layer)
        _RAW_MEMO[digest] = raw
        while len(_RAW_MEMO) > _RAW_MEMO_SIZE:
            _RAW_MEMO.popitem(last=False)
    _RAW_MEMO.move_to_end(digest)
    mapped = check_finite(np.asarray(aligner.transform(raw.vectors, lang), np.float32), f"{encoder.name} [{lang}]")
    mapped[raw.missing] = 0.0
    return WordFeatures(mapped, raw.lengths, raw.missing)


def _word_features(encoder: Encoder, sentences: Sequence[Sequence[str]], lang: str, layer: int) -> WordFeatures:
    joined = [join_words(tuple(words)) for words in sentences]
    emb = encoder.encode([text for text, _ in joined], lang, word_spec(layer))
    tokens = check_finite(np.asarray(emb.tokens[layer], np.float32), f"{lang} token states")
    token_starts = np.concatenate([[0], np.cumsum(emb.lengths)])
    lengths = np.array([len(spans) for _, spans in joined], np.int64)
    out = np.zeros((int(lengths.sum()), tokens.shape[1]), np.float32)
    missing = np.zeros(len(out), bool)
    position = 0
    for i, (_, spans) in enumerate(joined):
        start, stop = token_starts[i], token_starts[i + 1]
        index = first_subtokens(emb.offsets[start:stop], spans)
        found = index >= 0
        out[position + np.nonzero(found)[0]] = tokens[start + index[found]]
        missing[position + np.nonzero(~found)[0]] = True
        position += len(spans)
    return WordFeatures(out, lengths, missing)
