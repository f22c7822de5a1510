"""The Aligner contract (categories a/b and post-hoc normalizations) and the encoder it yields."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np

from bench.encoders.base import Embeddings, Encoder, check_finite
from bench.specs import AnchorRequest, EncodeSpec, Requirement, Resource, Unit


class MissingResourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class AlignmentData:
    """What an aligner may learn from, already embedded at the cell's layer.

    `pairs[lang]` = (X in `lang`, Y in the pivot language), row-aligned anchors.
    `monolingual[lang]` = unpaired vectors of text in `lang`.
    `provenance` records where each piece came from (files, counts, leakage filtering).
    """

    pivot: str
    languages: tuple[str, ...]
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    monolingual: dict[str, np.ndarray] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)


ANCHOR_RESOURCES = {"parallel": Resource.PARALLEL_SENTENCES, "dictionary": Resource.BILINGUAL_LEXICON,
                    "words": Resource.WORD_ALIGNMENTS}


def anchor_resource(method: str, anchors: str) -> Resource:
    """The resource behind an `anchors` parameter: parallel sentences (mean-pooled), dictionary words
    (encoded alone) or word-aligned tokens in context."""
    if anchors not in ANCHOR_RESOURCES:
        raise ValueError(f"{method}: anchors must be one of {sorted(ANCHOR_RESOURCES)}, got {anchors!r}")
    return ANCHOR_RESOURCES[anchors]


def anchor_request(method: str, anchors: str, max_pairs: int) -> AnchorRequest:
    """The request of a supervised map: `max_pairs` anchor pairs of the kind `anchors` names."""
    return AnchorRequest(anchor_resource(method, anchors), max_pairs)


def unpaired_request(unit: str, max_sentences: int, max_vectors: int) -> AnchorRequest:
    """The request of an anchor-free map: each language's own text, as sentence vectors or token states."""
    if unit == Unit.TOKENS.value:
        return AnchorRequest(Resource.MONOLINGUAL_TEXT, max_sentences, Unit.TOKENS, max_vectors)
    return AnchorRequest(Resource.MONOLINGUAL_TEXT, max_sentences, Unit(unit))


def anchor_pairs(data: "AlignmentData", lang: str, method: str, anchors: str) -> tuple[np.ndarray, np.ndarray]:
    """(X in `lang`, Y in the pivot) as float64, or a clear error when the language has no anchors."""
    if lang not in data.pairs:
        raise MissingResourceError(f"{method}: no {anchors} anchors for {lang}-{data.pivot}")
    X, Y = data.pairs[lang]
    return np.asarray(X, np.float64), np.asarray(Y, np.float64)


class Aligner(Protocol):
    """scikit-learn style: the constructor is the config, learned state ends in `_`."""

    def needs(self) -> tuple[AnchorRequest, ...]:
        """The training data to provide before `fit` (empty: nothing to learn from)."""

    def fit(self, data: AlignmentData) -> "Aligner": ...

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray: ...


def params_of(aligner) -> dict:
    return {f.name: getattr(aligner, f.name) for f in dataclasses.fields(aligner)} if dataclasses.is_dataclass(aligner) else {}


def fitted_state(aligner) -> dict[str, np.ndarray]:
    """Every learned attribute (name ends in `_`): arrays, or dicts of arrays keyed by language."""
    state: dict[str, np.ndarray] = {}
    for name, value in vars(aligner).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, dict):
            for key, array in value.items():
                state[f"{name}/{key}"] = np.asarray(array)
        else:
            state[name] = np.asarray(value)
    return state


def restore_state(aligner, state: dict[str, np.ndarray]):
    for key, array in state.items():
        name, _, sub = key.partition("/")
        if sub:
            target = getattr(aligner, name, None)
            if not isinstance(target, dict):
                target = {}
                setattr(aligner, name, target)
            target[sub] = np.asarray(array)
        else:
            setattr(aligner, name, np.asarray(array))
    return aligner


class AlignedEncoder:
    """A base encoder followed by a fitted aligner's per-language transform at one layer.

    `identity` (from the method's spec) says the transform leaves vectors as they are, so the base's
    trainable weights stay reachable for the fine-tune protocol."""

    def __init__(self, base: Encoder, aligner, layer: int, method_name: str, artifact_key: str, identity: bool = False):
        self.base, self.aligner, self.layer = base, aligner, layer
        self.method_name, self.artifact_key, self.identity = method_name, artifact_key, identity

    @property
    def name(self) -> str:
        return f"{self.base.name}+{self.method_name}"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.base.fingerprint}:{self.artifact_key}".encode()).hexdigest()

    @property
    def num_layers(self) -> int:
        return self.base.num_layers

    def capabilities(self, lang: str) -> frozenset[Requirement]:
        found = self.base.capabilities(lang)
        return found if self.identity else found - {Requirement.TRAINABLE_WEIGHTS}

    def weights(self):
        return self.base.weights() if self.identity else None

    def space(self, lang: str) -> str:
        return self.base.space(lang) if self.identity else f"{self.fingerprint}:pivot"  # mapped into the pivot's

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        if spec.layers != (self.layer,):
            raise ValueError(f"{self.name} was fitted at layer {self.layer}; asked for layers {spec.layers}")
        raw = self.base.encode(texts, lang, spec, progress=progress)
        mapped = check_finite(self.aligner.transform(np.asarray(raw.pooled[self.layer], np.float32), lang),
                              f"{self.name} [{lang}]")
        tokens = None
        if raw.tokens is not None:
            tokens = {self.layer: self.aligner.transform(np.asarray(raw.tokens[self.layer], np.float32), lang)}
        return Embeddings(pooled={self.layer: mapped}, tokens=tokens, lengths=raw.lengths, offsets=raw.offsets)


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value):
    if hasattr(value, "value"):  # enums
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"not JSON serialisable: {value!r}")
