"""GBDD: remove the global language-bias direction (Zhao et al. 2021).

Zhao, Eger, Bjerva & Augenstein (2021), "Inducing Language-Agnostic Multilingual Representations",
*SEM: the language bias is the mean difference between a language's vectors and their English
translations over parallel anchors, d = mean(X - Y); each vector of that language is shifted by -d.
The survey files it under (d): it adjusts representations without learning a map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, anchor_pairs, anchor_request, anchor_resource
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


@method(MethodSpec(
    name="gbdd",
    category=Category.D,
    version="1",
    citation="Zhao et al. 2021 (*SEM)",
    mode=Mode.OFFLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.PARALLEL_SENTENCES, Resource.BILINGUAL_LEXICON, Resource.WORD_ALIGNMENTS}),
    summary="subtract each language's mean offset from English on translation pairs",
))
@dataclass
class Gbdd:
    anchors: str = "parallel"
    max_pairs: int = 2000

    def __post_init__(self):
        anchor_resource("gbdd", self.anchors)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (anchor_request("gbdd", self.anchors, self.max_pairs),)

    def fit(self, data: AlignmentData) -> "Gbdd":
        self.pivot_, self.bias_ = data.pivot, {}
        for lang in data.languages:
            if lang != data.pivot:
                X, Y = anchor_pairs(data, lang, "gbdd", self.anchors)
                if X.shape[1] != Y.shape[1]:
                    raise ValueError(f"gbdd: a bias direction needs one shared space; {lang} has {X.shape[1]}-d "
                                     f"vectors and the pivot {Y.shape[1]}-d (use procrustes, linear or fcnn)")
                self.bias_[lang] = (X - Y).mean(axis=0).astype(np.float32)
        return self

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if lang not in self.bias_:
            raise KeyError(f"gbdd was not fitted for language {lang!r} (fitted: {sorted(self.bias_)})")
        return X - self.bias_[lang]
