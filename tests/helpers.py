"""Test doubles and tiny hand-written fixture files (labelled as fixtures, not real data)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoders.base import Embeddings
from bench.specs import EncodeSpec

DIM = 16


def planted_rotation(lang: str, dim: int = DIM) -> np.ndarray:
    """A fixed random orthogonal matrix per language (identity for English)."""
    if lang == "en":
        return np.eye(dim, dtype=np.float32)
    seed = int(hashlib.sha256(lang.encode()).hexdigest()[:8], 16)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q.astype(np.float32)


class ToyEncoder:
    """Vectors from a hash of the text, rotated per language; counts calls, can fail on demand."""

    def __init__(self, fail_after: int | None = None, exception: type[BaseException] = KeyboardInterrupt):
        self.calls = 0
        self.fail_after, self.exception = fail_after, exception

    name = "toy"
    fingerprint = "toy-fingerprint-1"
    num_layers = 4

    def capabilities(self, lang: str) -> frozenset:
        return frozenset()  # pooled vectors only

    def weights(self) -> None:
        return None

    def space(self, lang: str) -> str:
        return self.fingerprint

    def vector(self, text: str, layer: int) -> np.ndarray:
        seed = int(hashlib.sha256(f"{text}|{layer}".encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).normal(size=DIM).astype(np.float32)

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise self.exception()
        rotation = planted_rotation(lang)
        return Embeddings(pooled={layer: np.stack([self.vector(t, layer) for t in texts]) @ rotation for layer in spec.layers})


class TransformerLikeEncoder(ToyEncoder):
    """A toy that declares what a transformers encoder offers (token states, trainable weights), for
    planning tests; it still returns pooled vectors only."""

    num_layers = 12

    def capabilities(self, lang: str) -> frozenset:
        from bench.encoders.base import TRANSFORMER_CAPABILITIES

        return TRANSFORMER_CAPABILITIES


# The runner tests' grid: 2 layers x 3 methods x (tatoeba de, fr + sts en-en) x 2 seeds = 36 cells on the
# fixture data (8 of them not applicable: no French parallel data or monolingual text).
TOY_GRID = """
name = "toy"
seeds = [0, 1]
[[encoders]]
name = "toy"
layers = [1, 2]
[[methods]]
name = "original"
[[methods]]
name = "procrustes"
params = { max_pairs = 30 }
[[methods]]
name = "normalization"
params = { max_sentences = 30 }
[[tasks]]
name = "tatoeba"
[[tasks]]
name = "sts"
"""


def write_fixture_data(root: Path) -> Path:
    """A tiny data root in the real formats (hand-written fixture, not real data)."""
    tatoeba = root / "tatoeba"
    tatoeba.mkdir(parents=True)
    for code, lines in {"deu": ["Hallo Welt.", "Ich bin müde.", "Das Haus ist rot.", "Wo ist der Bahnhof?"],
                        "fra": ["Bonjour le monde.", "Je suis fatigué.", "La maison est rouge.", "Où est la gare ?"]}.items():
        (tatoeba / f"tatoeba.{code}-eng.{code}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tatoeba / f"tatoeba.{code}-eng.eng").write_text(
            "Hello world.\nI am tired.\nThe house is red.\nWhere is the station?\n", encoding="utf-8")
    sts = root / "sts" / "sts2017"
    sts.mkdir(parents=True)
    (sts / "STS.input.track5.en-en.txt").write_text(
        "A man is playing a guitar.\tA man plays the guitar.\t4.8\n"
        "A dog runs.\tA cat sleeps.\t0.5\n"
        "Two kids are dancing.\tChildren are dancing.\t4.0\n"
        "The sun is hot.\tA car is parked.\t0.1\n", encoding="utf-8")
    parallel = root / "parallel" / "de-en"
    parallel.mkdir(parents=True)
    de = [f"Satz Nummer {i} über Dinge." for i in range(40)]
    en = [f"Sentence number {i} about things." for i in range(40)]
    (parallel / "newstest2018.de").write_text("\n".join(de) + "\n", encoding="utf-8")
    (parallel / "newstest2018.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    return root
