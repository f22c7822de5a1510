"""Independent encoders: a different model per language behind one Encoder (category (a)'s original setting).

`PerLanguageEncoder(default, {"tr": other})` encodes Turkish with `other` and every other language with
`default`. Vectors of two languages may then live in unrelated spaces, even of different widths: only a
fitted mapping makes them comparable, and tasks refuse to compare vectors of different widths.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

from bench.encoders.base import Embeddings, Encoder
from bench.specs import EncodeSpec, Requirement


class PerLanguageEncoder:
    def __init__(self, default: Encoder, by_language: Mapping[str, Encoder], label: str):
        self.default, self.by_language, self._label = default, dict(by_language), label

    @property
    def name(self) -> str:
        return self._label

    @property
    def fingerprint(self) -> str:
        parts = [self.default.fingerprint] + [f"{lang}={enc.fingerprint}" for lang, enc in sorted(self.by_language.items())]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    @property
    def num_layers(self) -> int:
        return self.default.num_layers

    def capabilities(self, lang: str) -> frozenset[Requirement]:
        return self.encoder_for(lang).capabilities(lang) - {Requirement.TRAINABLE_WEIGHTS}  # no single model

    def weights(self) -> None:
        return None

    def space(self, lang: str) -> str:
        return self.encoder_for(lang).space(lang)

    def encoder_for(self, lang: str) -> Encoder:
        return self.by_language.get(lang, self.default)

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        return self.encoder_for(lang).encode(texts, lang, spec, progress=progress)
