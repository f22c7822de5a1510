"""Pieces shared by the sentence-level tasks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.specs import EncodeSpec, Pooling

SENTENCE_POOLING_NOTE = "mean over all tokens of the layer, special tokens included (XTREME)"


def sentence_spec(layer: int) -> EncodeSpec:
    return EncodeSpec(layers=(layer,), pooling=Pooling.MEAN, max_length=512, prefix="", dtype="float32")


def sentence_protocol(layer: int) -> dict:
    return {"layer": layer, "layer_index": "absolute hidden_states index (0 = embeddings)",
            "pooling": SENTENCE_POOLING_NOTE, "prefix": "", "max_length": 512}


def embed(encoder: Encoder, texts: list[str], lang: str, layer: int) -> np.ndarray:
    return np.asarray(encoder.encode(texts, lang, sentence_spec(layer)).layer(layer), np.float32)


def subdir(data_dir: Path, name: str) -> Path:
    path = Path(data_dir) / name
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: task data folder missing (data root {data_dir})")
    return path
