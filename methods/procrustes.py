"""Orthogonal Procrustes ("Rotation"): map each language onto the pivot (English) space.

Aldarmaki & Diab (2019), "Context-Aware Cross-Lingual Mapping", NAACL; Schuster et al. (2019),
"Cross-Lingual Alignment of Contextual Word Embeddings", NAACL. W = argmin ||X W - Y||_F over
orthogonal W, solved in closed form by SVD (`methods._unsupervised.procrustes_map`), fitted per
language on anchor pairs: parallel sentences (mean-pooled), dictionary words (encoded alone) or
word-aligned tokens in context (`anchors = "words"`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, anchor_pairs, anchor_request, anchor_resource
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._unsupervised import procrustes_map

@method(MethodSpec(
    name="procrustes",
    category=Category.A,
    version="2",  # 2: anchors guarded against every registered task (CBLI/BLI test items included)
    citation="Aldarmaki & Diab 2019 (NAACL); Schuster et al. 2019 (NAACL)",
    mode=Mode.OFFLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.PARALLEL_SENTENCES, Resource.BILINGUAL_LEXICON, Resource.WORD_ALIGNMENTS}),
    summary="orthogonal map per language onto English, fitted on anchors",
))
@dataclass
class Procrustes:
    anchors: str = "parallel"
    max_pairs: int = 2000

    def __post_init__(self):
        anchor_resource("procrustes", self.anchors)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (anchor_request("procrustes", self.anchors, self.max_pairs),)

    def fit(self, data: AlignmentData) -> "Procrustes":
        self.pivot_ = data.pivot
        self.rotations_ = {}
        for lang in data.languages:
            if lang == data.pivot:
                continue
            X, Y = anchor_pairs(data, lang, "procrustes", self.anchors)
            rotation = procrustes_map(X, Y)  # orthogonal; semi-orthogonal between spaces of different widths
            self.rotations_[lang] = rotation.astype(np.float32)
        return self

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if lang not in self.rotations_:
            raise KeyError(f"procrustes was not fitted for language {lang!r} (fitted: {sorted(self.rotations_)})")
        return X @ self.rotations_[lang]
