"""Content-addressed embedding cache: one entry per (encoder, encode spec, layer, language, texts).

Entries are `.npy` arrays (no pickle) plus a JSON sidecar, written into a temporary directory
and renamed into place, so an interrupted run never leaves a half-written entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoders.base import Embeddings, Encoder
from bench.specs import EncodeSpec

CACHE_FORMAT = "1"


def texts_digest(texts: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(texts), ensure_ascii=False).encode("utf-8")).hexdigest()


def cache_key(fingerprint: str, spec: EncodeSpec, layer: int, lang: str, texts: Sequence[str]) -> str:
    payload = {
        "format": CACHE_FORMAT,
        "encoder": fingerprint,
        "spec": spec.key_fields(),
        "layer": layer,
        "lang": lang,
        "texts": texts_digest(texts),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, root: Path):
        self.root = Path(root) / "embeddings"

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        entry = self._dir(key)
        if not (entry / "meta.json").is_file():
            return None
        return {f.stem: np.load(f, mmap_mode="r", allow_pickle=False) for f in entry.glob("*.npy")}

    def store(self, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
        entry = self._dir(key)
        if (entry / "meta.json").is_file():
            return
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
        try:
            for name, array in arrays.items():
                np.save(staging / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
            (staging / "meta.json").write_text(json.dumps(meta, sort_keys=True))
            try:
                os.replace(staging, entry)
            except OSError:  # another process stored the same entry first
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)


class CachedEncoder:
    """An Encoder that reads the cache first and, on a miss, encodes every prefetch layer at once.

    `prefetch_layers` lets one forward pass fill the cache for all layers a grid will ask for.
    `encoder_calls` counts how often the wrapped encoder actually ran.
    """

    def __init__(self, base: Encoder, cache: EmbeddingCache, prefetch_layers: Sequence[int] = (), progress: bool = False):
        self.base = base
        self.cache = cache
        self.prefetch_layers = tuple(prefetch_layers)
        self.progress = progress
        self.encoder_calls = 0

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def fingerprint(self) -> str:
        return self.base.fingerprint

    @property
    def num_layers(self) -> int:
        return self.base.num_layers

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec) -> Embeddings:
        texts = list(texts)
        wanted = set(spec.layers)
        candidates = sorted(wanted | {l for l in self.prefetch_layers if l <= self.num_layers})
        keys = {layer: cache_key(self.fingerprint, spec, layer, lang, texts) for layer in candidates}
        found = {layer: self.cache.load(keys[layer]) for layer in candidates}
        missing = [layer for layer in candidates if found[layer] is None]
        if any(layer in wanted for layer in missing):
            self.encoder_calls += 1
            kwargs = {"progress": self.progress} if self.progress else {}
            fresh = self.base.encode(texts, lang, spec.with_layers(tuple(missing)), **kwargs)
            for layer in missing:
                arrays = {"pooled": fresh.pooled[layer]}
                if spec.keep_tokens:
                    arrays.update(tokens=fresh.tokens[layer], lengths=fresh.lengths, offsets=fresh.offsets)
                meta = {"encoder": self.name, "fingerprint": self.fingerprint, "layer": layer, "lang": lang,
                        "n": len(texts), **spec.key_fields(), "format": CACHE_FORMAT}
                self.cache.store(keys[layer], arrays, meta)
                found[layer] = arrays
        entries = {layer: found[layer] for layer in spec.layers}
        first = entries[spec.layers[0]]
        if not spec.keep_tokens:
            return Embeddings(pooled={l: np.asarray(e["pooled"]) for l, e in entries.items()})
        return Embeddings(
            pooled={l: np.asarray(e["pooled"]) for l, e in entries.items()},
            tokens={l: np.asarray(e["tokens"]) for l, e in entries.items()},
            lengths=np.asarray(first["lengths"]),
            offsets=np.asarray(first["offsets"]),
        )
