"""Vector-space normalization: remove language-specific means and variances.

Zhao, Eger, Bjerva & Augenstein (2021), "Inducing Language-Agnostic Multilingual
Representations", *SEM. Each language's vectors are standardised per dimension with that
language's own mean and standard deviation, estimated on unpaired monolingual text (no anchors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, MissingResourceError
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


@method(MethodSpec(
    name="normalization",
    category=Category.D,
    version="2",  # 2: anchors guarded against every registered task (CBLI/BLI test items included)
    citation="Zhao et al. 2021 (*SEM)",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.MONOLINGUAL_TEXT}),
    summary="per-language centering and scaling, no anchors",
))
@dataclass
class Normalization:
    max_sentences: int = 2000
    eps: float = 1e-6

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.MONOLINGUAL_TEXT, self.max_sentences),)

    def fit(self, data: AlignmentData) -> "Normalization":
        self.mean_, self.scale_ = {}, {}
        for lang in data.languages:
            if lang not in data.monolingual:
                raise MissingResourceError(f"normalization: no monolingual text for {lang}")
            X = np.asarray(data.monolingual[lang], np.float64)
            self.mean_[lang] = X.mean(0).astype(np.float32)
            self.scale_[lang] = (X.std(0) + self.eps).astype(np.float32)
        return self

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang not in self.mean_:
            raise KeyError(f"normalization was not fitted for language {lang!r} (fitted: {sorted(self.mean_)})")
        return (X - self.mean_[lang]) / self.scale_[lang]
