"""Shared machinery of the zero-shot transfer tasks, frozen-feature protocol.

English training data -> features at the cell's layer from the cell's encoder (for a mapping
method: each language's features mapped by its own fitted map) -> a small head trained on English
only, its checkpoint (epoch) chosen on English dev -> applied to every other language's test data.

Heads are content-addressed: the key hashes the English training and selection features, their
labels, the head config and the seed. Two methods that leave English features unchanged (e.g.
`original` and Procrustes into English space) therefore share one trained head, and a resumed run
reloads heads instead of retraining them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


SAMPLE_SEED = 12345  # fixed: every method and seed sees the same sampled items
def sample(items: Sequence, limit: int | None) -> list:
    """A fixed-seed sample of at most `limit` items, kept in file order (limit 0/None = all)."""
    items = list(items)
    if not limit or limit >= len(items):
        return items
    keep = np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep]


# --- heads ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeadConfig:
    """Everything that shapes a trained head besides its data and seed."""

    kind: str
    epochs: int
    lr: float
    batch_size: int
    hidden: int = 0
    dropout: float = 0.0
    weight_decay: float = 0.0
    beta2: float = 0.999  # Adam's second-moment decay (Dozat & Manning use 0.9)
    version: str = "2"  # 2: initial weights drawn under the cell's seed (1 drew them from the global RNG state)


def content_key(config: HeadConfig, seed: int, *parts) -> str:
    digest = hashlib.sha256(json.dumps({"config": asdict(config), "seed": seed}, sort_keys=True).encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


class HeadStore:
    """Trained heads on disk (torch state dicts, loaded with weights_only) plus their training record."""

    def __init__(self, cache_dir: Path | None):
        self.root = Path(cache_dir) / "heads" if cache_dir else None

    def load(self, key: str):
        """The saved head, or None; an unreadable one (truncated by a kill, a full disk) is reported with
        its path and deleted, so the caller trains again."""
        import torch

        path = self.root / f"{key}.pt" if self.root is not None else None
        if path is None or not path.is_file():
            return None
        try:
            saved = torch.load(path, weights_only=True)
            if not isinstance(saved, dict) or not {"state", "record"} <= set(saved):
                raise ValueError("not a saved head (no 'state' and 'record')")
            return saved
        except Exception as error:  # torch raises RuntimeError, EOFError, pickle errors... for a bad file
            logging.getLogger("alignbench").warning("head store: discarding unreadable %s (%s: %s); retraining",
                                                    path, type(error).__name__, str(error)[:200])
            path.unlink(missing_ok=True)
            return None

    def save(self, key: str, payload: dict) -> None:
        import torch

        if self.root is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
        torch.save(payload, tmp)
        os.replace(tmp, self.root / f"{key}.pt")


def shuffled_batches(rng: np.random.Generator, n_items: int, batch_size: int) -> list[np.ndarray]:
    return np.array_split(rng.permutation(n_items), max(1, math.ceil(n_items / batch_size)))


def length_bucketed_batches(lengths: Sequence[int], pool: int = 20) -> Callable:
    """Batches of similar length (less padding): shuffle, sort within pools of `pool` batches, shuffle batches."""
    lengths = np.asarray(lengths)

    def make(rng: np.random.Generator, n_items: int, batch_size: int) -> list[np.ndarray]:
        order, batches = rng.permutation(n_items), []
        for start in range(0, n_items, batch_size * pool):
            chunk = order[start:start + batch_size * pool]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    return make


def train_head(module, loss_on: Callable, n_items: int, select: Callable, config: HeadConfig, seed: int,
               batches: Callable = shuffled_batches) -> dict:
    """Adam over shuffled mini-batches; after each epoch `select(module)` scores English dev and the
    best epoch's weights are kept. Returns the training record."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr, betas=(0.9, config.beta2),
                                 weight_decay=config.weight_decay)
    best_score, best_state, best_epoch = -math.inf, None, 0
    for epoch in range(1, config.epochs + 1):
        module.train()
        for batch in batches(rng, n_items, config.batch_size):
            optimizer.zero_grad()
            loss = loss_on(module, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{config.kind} head: non-finite training loss at epoch {epoch}")
            loss.backward()
            optimizer.step()
        module.eval()
        with torch.no_grad():
            score = float(select(module))
        if score > best_score:
            best_score, best_state, best_epoch = score, copy.deepcopy(module.state_dict()), epoch
    module.load_state_dict(best_state)
    module.eval()
    return {"best_epoch": best_epoch, "epochs": config.epochs, "dev_score": round(best_score, 4)}


def fit_or_load(store: HeadStore, key: str, build: Callable, train: Callable, seed: int):
    """Build the module under `seed` (its initial weights never depend on what ran before in the
    process), then load its weights from the store or train and save them."""
    import torch

    torch.manual_seed(seed)
    module = build()
    saved = store.load(key)
    if saved is not None:
        module.load_state_dict(saved["state"])
        module.eval()
        return module, {**saved["record"], "head_key": key, "head_cached": True}
    record = train(module)
    store.save(key, {"state": module.state_dict(), "record": record})
    return module, {**record, "head_key": key, "head_cached": False}


# --- modules --------------------------------------------------------------------------------

def tagger_module(dim: int, n_labels: int, dropout: float):
    """A linear probe: one affine map from a word's vector to tag logits."""
    from torch import nn

    return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, n_labels))


def pair_module(dim: int, hidden: int, n_labels: int, dropout: float):
    """MLP over the SentEval pair features [u; v; |u - v|; u * v]."""
    from torch import nn

    return nn.Sequential(nn.Linear(4 * dim, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, n_labels))


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1).astype(np.float32)


def predict_in_batches(module, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    import torch

    with torch.no_grad():
        parts = [module(torch.from_numpy(X[i:i + batch])).argmax(-1).numpy() for i in range(0, len(X), batch)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def most_frequent_tag_per_word(word_tags) -> dict[str, str]:
    """Baseline lexicon: each word form's most frequent tag in (word, tag) pairs."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for word, tag in word_tags:
        counts[word][tag] += 1
    return {word: counter.most_common(1)[0][0] for word, counter in counts.items()}


def most_frequent(labels: Sequence[str]) -> str:
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return str(values[np.argmax(counts)])
