"""Unconstrained linear map ("Linear", CLBT-style): W = argmin ||X W - Y||_F, no orthogonality.

Wang et al. (2019), "Cross-lingual BERT Transformation for Zero-shot Dependency Parsing", EMNLP
(CLBT); one of the supervised baselines of Zhao & Eger (2022). Least squares in closed form
(numpy.linalg.lstsq), optionally ridge-regularised, fitted per language on anchor pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, anchor_pairs, anchor_request, anchor_resource
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


@method(MethodSpec(
    name="linear",
    category=Category.A,
    version="1",
    citation="Wang et al. 2019 (EMNLP, CLBT)",
    mode=Mode.OFFLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.OFF_THE_SHELF,
    level=Level.WORD,
    supervision=frozenset({Resource.PARALLEL_SENTENCES, Resource.BILINGUAL_LEXICON, Resource.WORD_ALIGNMENTS}),
    summary="least-squares linear map per language onto English, fitted on anchors",
))
@dataclass
class Linear:
    anchors: str = "words"
    max_pairs: int = 20000
    ridge: float = 0.0  # L2 penalty on W (0 = plain least squares)

    def __post_init__(self):
        anchor_resource("linear", self.anchors)
        if self.ridge < 0:
            raise ValueError(f"linear: ridge must be >= 0, got {self.ridge}")

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (anchor_request("linear", self.anchors, self.max_pairs),)

    def fit(self, data: AlignmentData) -> "Linear":
        self.pivot_, self.weights_ = data.pivot, {}
        for lang in data.languages:
            if lang == data.pivot:
                continue
            X, Y = anchor_pairs(data, lang, "linear", self.anchors)
            if self.ridge:
                W = np.linalg.solve(X.T @ X + self.ridge * np.eye(X.shape[1]), X.T @ Y)
            else:
                W = np.linalg.lstsq(X, Y, rcond=None)[0]
            self.weights_[lang] = W.astype(np.float32)
        return self

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if lang not in self.weights_:
            raise KeyError(f"linear was not fitted for language {lang!r} (fitted: {sorted(self.weights_)})")
        return X @ self.weights_[lang]
