"""Similarity search helpers shared by tasks: cosine nearest neighbours and LASER ratio margin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def l2_normalize(X: np.ndarray, dtype=np.float32) -> np.ndarray:
    X = np.asarray(X, dtype)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} zero vectors cannot be cosine-normalised")
    return X / norms


def check_same_space(A: np.ndarray, B: np.ndarray) -> None:
    """Vectors of different widths come from different encoders: comparing them needs a mapping first."""
    if np.shape(A)[-1] != np.shape(B)[-1]:
        raise ValueError(f"cannot compare {np.shape(A)[-1]}-d with {np.shape(B)[-1]}-d vectors: the two languages "
                         "were encoded by independent encoders, so only a fitted mapping makes them comparable")


def nearest_neighbour(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each query's cosine nearest key."""
    check_same_space(queries, keys)
    return (l2_normalize(queries) @ l2_normalize(keys).T).argmax(1)


def topk_cosine(queries: np.ndarray, keys: np.ndarray, k: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Similarities and indices of each (normalised) query's k most similar keys, best first."""
    check_same_space(queries, keys)
    k = min(k, len(keys))
    sims, idx = [], []
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk] @ keys.T
        part = np.argpartition(-block, k - 1, axis=1)[:, :k]
        part_sims = np.take_along_axis(block, part, 1)
        order = np.argsort(-part_sims, axis=1)
        idx.append(np.take_along_axis(part, order, 1))
        sims.append(np.take_along_axis(part_sims, order, 1))
    return np.concatenate(sims), np.concatenate(idx)


@dataclass(frozen=True)
class MinedPair:
    source: int
    target: int
    score: float


def ratio_margin_mine(X: np.ndarray, Y: np.ndarray, k: int = 4) -> list[MinedPair]:
    """LASER bitext mining (Artetxe & Schwenk 2019): ratio margin, 'max' retrieval, greedy 1:1.

    margin(x, y) = cos(x, y) / ((mean top-k cos of x in Y + mean top-k cos of y in X) / 2).
    Each source proposes its best-margin target among its k nearest; each target proposes its
    best-margin source likewise; all proposals are sorted by margin and accepted greedily so that
    no source or target is used twice.
    """
    X, Y = l2_normalize(X), l2_normalize(Y)
    fwd_sims, fwd_idx = topk_cosine(X, Y, k)
    bwd_sims, bwd_idx = topk_cosine(Y, X, k)
    fwd_mean, bwd_mean = fwd_sims.mean(1), bwd_sims.mean(1)

    fwd_margin = fwd_sims / ((fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2)
    bwd_margin = bwd_sims / ((bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2)
    best_f, best_b = fwd_margin.argmax(1), bwd_margin.argmax(1)
    rows_x = np.arange(len(X))
    rows_y = np.arange(len(Y))
    candidates = np.concatenate([
        np.stack([rows_x, fwd_idx[rows_x, best_f], fwd_margin[rows_x, best_f]], 1),
        np.stack([bwd_idx[rows_y, best_b], rows_y, bwd_margin[rows_y, best_b]], 1),
    ])
    order = np.lexsort((candidates[:, 1], candidates[:, 0], -candidates[:, 2]))
    used_x, used_y, mined = set(), set(), []
    for i, j, score in candidates[order]:
        i, j = int(i), int(j)
        if i in used_x or j in used_y:
            continue
        used_x.add(i)
        used_y.add(j)
        mined.append(MinedPair(i, j, float(score)))
    return mined
