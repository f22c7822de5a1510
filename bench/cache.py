"""Content-addressed embedding cache with one key per text.

A vector's key is (format, encoder fingerprint, encode spec, layer, language, text): every input
that can change it. Vectors sharing everything but the text live in one *bucket* folder as shards
(`.npy` arrays, no pickle) each listed by a JSON file of text hashes; the JSON is written last, by
an atomic rename, so an interrupted run never leaves a half-written shard visible. Overlapping text
lists (a slice of a test set, the two sides of different anchor sets) reuse each other's vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.encoders.base import Embeddings, Encoder
from bench.specs import EncodeSpec

CACHE_FORMAT = "2"
_log = logging.getLogger("alignbench")
_TOKEN_ARRAYS = ("tokens", "lengths", "offsets")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bucket_key(fingerprint: str, spec: EncodeSpec, layer: int, lang: str) -> str:
    payload = {"format": CACHE_FORMAT, "encoder": fingerprint, "spec": spec.key_fields(), "layer": layer, "lang": lang}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_key(fingerprint: str, spec: EncodeSpec, layer: int, lang: str, text: str) -> str:
    """The full key of one vector (bucket + text)."""
    return hashlib.sha256(f"{bucket_key(fingerprint, spec, layer, lang)}:{text_hash(text)}".encode()).hexdigest()


@dataclass
class _Shard:
    arrays: dict[str, np.ndarray]
    token_starts: np.ndarray | None


class CacheEntryError(RuntimeError):
    """A cache entry that failed verification; it has been discarded and will be recomputed."""


class _Bucket:
    """All shards of one (encoder, spec, layer, language); text hash -> (shard, row).

    Each listing JSON records the byte size of its arrays; a listing that does not parse, or whose arrays
    are missing or of another size (a kill or a full disk mid-write), is reported with its path and
    discarded, so its texts are encoded again instead of failing every later run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.rows: dict[str, tuple[str, int]] = {}
        self.shards: dict[str, _Shard] = {}
        if folder.is_dir():
            for listing in sorted(folder.glob("*.json")):
                try:
                    content = json.loads(listing.read_text())
                    hashes = content["texts"]
                    for key, size in content.get("files", {}).items():
                        found = (folder / f"{listing.stem}.{key}.npy").stat().st_size
                        if found != size:
                            raise ValueError(f"{listing.stem}.{key}.npy has {found} bytes, {size} recorded")
                except (OSError, ValueError, KeyError, TypeError) as error:
                    self.discard(listing.stem, f"{type(error).__name__}: {error}")
                    continue
                self._add(listing.stem, hashes)

    def _add(self, shard: str, hashes: list[str]) -> None:
        for row, key in enumerate(hashes):
            self.rows.setdefault(key, (shard, row))

    def discard(self, name: str, why: str) -> None:
        """Forget a shard and delete its files (its texts count as missing again)."""
        _log.warning("embedding cache: discarding %s (%s); its vectors will be recomputed", self.folder / f"{name}.json", why)
        self.rows = {key: place for key, place in self.rows.items() if place[0] != name}
        self.shards.pop(name, None)
        for path in [self.folder / f"{name}.json", *self.folder.glob(f"{name}.*.npy")]:
            path.unlink(missing_ok=True)

    def shard(self, name: str) -> _Shard:
        if name not in self.shards:
            try:
                arrays = {f.name.split(".")[1]: np.load(f, mmap_mode="r", allow_pickle=False)
                          for f in self.folder.glob(f"{name}.*.npy")}
                if "pooled" not in arrays:
                    raise ValueError("no pooled array")
            except (OSError, ValueError, EOFError) as error:
                self.discard(name, f"{type(error).__name__}: {error}")
                raise CacheEntryError(f"{self.folder / name}: unreadable shard, discarded") from error
            starts = np.concatenate([[0], np.cumsum(arrays["lengths"])]) if "lengths" in arrays else None
            self.shards[name] = _Shard(arrays, starts)
        return self.shards[name]

    def write(self, hashes: list[str], arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:16]
        sizes = {}
        for key, array in arrays.items():
            tmp = self.folder / f".{name}.{key}.tmp.npy"
            np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
            sizes[key] = tmp.stat().st_size
            os.replace(tmp, self.folder / f"{name}.{key}.npy")
        tmp = self.folder / f".{name}.json.tmp"
        tmp.write_text(json.dumps({"texts": hashes, "meta": meta, "files": sizes}, sort_keys=True))
        os.replace(tmp, self.folder / f"{name}.json")
        self._add(name, hashes)


class EmbeddingCache:
    def __init__(self, root: Path):
        self.root = Path(root) / "embeddings"
        self._buckets: dict[str, _Bucket] = {}

    def bucket(self, key: str) -> _Bucket:
        if key not in self._buckets:
            self._buckets[key] = _Bucket(self.root / key[:2] / key)
        return self._buckets[key]


class CachedEncoder:
    """An Encoder that reads the cache first and encodes only the texts it lacks.

    On a miss it encodes the missing texts once for every `prefetch_layers` layer too, so one
    forward pass fills the cache for all layers a grid will ask for. `encoder_calls` counts how
    often the wrapped encoder actually ran.
    """

    def __init__(self, base: Encoder, cache: EmbeddingCache, prefetch_layers: Sequence[int] = (), progress: bool = False):
        self.base = base
        self.cache = cache
        self.prefetch_layers = tuple(prefetch_layers)
        self.progress = progress
        self.encoder_calls = 0
        self.encode_seconds = 0.0  # time spent inside the wrapped encoder

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def fingerprint(self) -> str:
        return self.base.fingerprint

    @property
    def num_layers(self) -> int:
        return self.base.num_layers

    def capabilities(self, lang: str):
        return self.base.capabilities(lang)

    def weights(self):
        return self.base.weights()

    def space(self, lang: str) -> str:
        return self.base.space(lang)

    def _bucket(self, spec: EncodeSpec, layer: int, lang: str) -> _Bucket:
        return self.cache.bucket(bucket_key(self.fingerprint, spec, layer, lang))

    def encode(self, texts: Sequence[str], lang: str, spec: EncodeSpec, progress: bool = False) -> Embeddings:
        """Serve `texts` from the cache; the wrapped encoder shows a bar when either flag asks for one."""
        texts = list(texts)
        hashes = [text_hash(t) for t in texts]
        layers = sorted(set(spec.layers) | {l for l in self.prefetch_layers if l <= self.num_layers})
        for attempt in (1, 2):
            missing = {layer: {h for h in hashes if h not in self._bucket(spec, layer, lang).rows} for layer in layers}
            if any(missing[layer] for layer in spec.layers):
                self._fill(texts, hashes, lang, spec, [layer for layer in layers if missing[layer]],
                           set().union(*missing.values()), progress or self.progress)
            try:
                return self._assemble(hashes, lang, spec)
            except CacheEntryError:
                if attempt == 2:
                    raise  # a shard written a moment ago is unreadable: the cache folder itself is broken

    def _fill(self, texts, hashes, lang, spec, layers, todo: set[str], progress: bool) -> None:
        chosen = list({h: t for h, t in zip(hashes, texts) if h in todo}.items())
        self.encoder_calls += 1
        start = time.perf_counter()
        fresh = self.base.encode([t for _, t in chosen], lang, spec.with_layers(tuple(layers)), progress=progress)
        self.encode_seconds += time.perf_counter() - start
        for layer in layers:
            arrays = {"pooled": fresh.pooled[layer]}
            if spec.keep_tokens:
                arrays.update(tokens=fresh.tokens[layer], lengths=fresh.lengths, offsets=fresh.offsets)
            meta = {"encoder": self.name, "fingerprint": self.fingerprint, "layer": layer, "lang": lang,
                    "n": len(chosen), **spec.key_fields(), "format": CACHE_FORMAT}
            self._bucket(spec, layer, lang).write([h for h, _ in chosen], arrays, meta)

    def _assemble(self, hashes: list[str], lang: str, spec: EncodeSpec) -> Embeddings:
        pooled, tokens, lengths, offsets = {}, {}, None, None
        for layer in spec.layers:
            bucket = self._bucket(spec, layer, lang)
            places = [bucket.rows[h] for h in hashes]
            by_shard: dict[str, list[int]] = {}
            for position, (shard, _) in enumerate(places):
                by_shard.setdefault(shard, []).append(position)
            first = bucket.shard(places[0][0]).arrays["pooled"]
            out = np.empty((len(hashes), first.shape[1]), first.dtype)
            for shard, positions in by_shard.items():
                out[positions] = bucket.shard(shard).arrays["pooled"][[places[p][1] for p in positions]]
            pooled[layer] = out
            if spec.keep_tokens:
                parts = {name: [] for name in _TOKEN_ARRAYS}
                for shard_name, row in places:
                    shard = bucket.shard(shard_name)
                    start, stop = shard.token_starts[row], shard.token_starts[row + 1]
                    parts["tokens"].append(shard.arrays["tokens"][start:stop])
                    parts["offsets"].append(shard.arrays["offsets"][start:stop])
                    parts["lengths"].append(stop - start)
                tokens[layer] = np.concatenate(parts["tokens"])
                lengths, offsets = np.array(parts["lengths"], np.int64), np.concatenate(parts["offsets"])
        if not spec.keep_tokens:
            return Embeddings(pooled=pooled)
        return Embeddings(pooled=pooled, tokens=tokens, lengths=lengths, offsets=offsets)


# What a kill can leave behind: temporary files of atomic writes and staging folders of model builds.
_TEMPORARY = ("embeddings/**/.*.tmp.npy", "embeddings/**/.*.json.tmp", "artifacts/.tmp-*", "heads/.*.tmp", "guard/.*.tmp",
              "models/.building-*", "checkpoints/.building-*")


def sweep_temporary(cache_dir: Path, out_dir: Path, older_than: float = 600.0) -> tuple[int, int]:
    """Delete temporary files and staging folders older than `older_than` seconds (younger ones may
    belong to a run that is still writing); returns (entries removed, bytes freed)."""
    import shutil

    now, removed, freed = time.time(), 0, 0
    candidates = [p for pattern in _TEMPORARY for p in Path(cache_dir).glob(pattern)]
    candidates += list(Path(out_dir).glob(".*.jsonl.*"))  # temp files of atomic rewrites (prune)
    for path in candidates:
        try:
            if now - path.stat().st_mtime < older_than:
                continue
            size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            continue
        removed, freed = removed + 1, freed + size
    return removed, freed
