"""The encoder as it is: the control row every alignment method is compared against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData
from bench.registry import method
from bench.specs import Category, Level, MethodSpec, Mode, Signal, WordAlignmentSource


@method(MethodSpec(
    name="original",
    category=Category.CONTROL,
    version="1",
    citation="-",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    summary="no alignment (baseline)",
    identity=True,  # lets the fine-tune protocol reach the encoder's weights
))
@dataclass
class Original:
    def needs(self) -> tuple:
        return ()

    def fit(self, data: AlignmentData) -> "Original":
        return self

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        return X
