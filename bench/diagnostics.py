"""Functional core of the intrinsic diagnostics and of the unsupervised validation criteria.

Plain numpy on (n, d) matrices; rows are vectors. Every function states its reference and its
direction (which way is "better"). Mapping methods may call `semantic_criterion` and
`structural_criterion` during training to select a checkpoint without validation data.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from bench.retrieval import check_same_space, l2_normalize


def unit(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float64 (zero rows are an error)."""
    return l2_normalize(X, np.float64)


def cosine_matrix(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    check_same_space(X, Y)
    return unit(X) @ unit(Y).T


def csls_matrix(X: np.ndarray, Y: np.ndarray, k: int = 10) -> np.ndarray:
    """Cross-domain similarity local scaling (Conneau et al. 2018): 2 cos(x, y) - r_Y(x) - r_X(y), where
    r_Y(x) is the mean cosine of x to its k nearest neighbours in Y (and r_X(y) likewise)."""
    cos = cosine_matrix(X, Y)
    kx, ky = min(k, cos.shape[1]), min(k, cos.shape[0])
    r_y = np.sort(cos, axis=1)[:, -kx:].mean(axis=1)  # per x, over Y
    r_x = np.sort(cos, axis=0)[-ky:, :].mean(axis=0)  # per y, over X
    return 2 * cos - r_y[:, None] - r_x[None, :]


def precision_at_1(scores: np.ndarray, gold: list[set[int]] | np.ndarray) -> float:
    """Share of rows whose highest-scoring column is one of the row's gold columns (x100).
    Ties go to the lowest column index (numpy's argmax)."""
    best = np.argmax(scores, axis=1)
    if isinstance(gold, np.ndarray):
        return float(100.0 * np.mean(best == gold))
    if len(gold) != len(best):
        raise ValueError(f"{len(gold)} gold sets for {len(best)} queries")
    return float(100.0 * np.mean([b in g for b, g in zip(best, gold)]))


# --- isotropy (higher partition ratio / lower average cosine = more isotropic) ------------------

def average_cosine(X: np.ndarray, n_pairs: int = 10_000, seed: int = 0) -> float:
    """Mean cosine between random pairs of distinct rows (Ethayarajh 2019's anisotropy baseline).
    For isotropic random vectors its expectation is 0."""
    n = len(X)
    if n < 2:
        raise ValueError("average cosine needs at least 2 vectors")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_pairs)
    j = (i + rng.integers(1, n, n_pairs)) % n  # j != i
    U = unit(X)
    return float(np.mean(np.einsum("ij,ij->i", U[i], U[j])))


def partition_ratio(X: np.ndarray) -> float:
    """I(W) = min_c Z(c) / max_c Z(c), Z(c) = sum_w exp(c . w), over the eigenvectors c of W^T W (Mu &
    Viswanath 2018). 1 = isotropic. Computed in log space on unit-length vectors: on raw contextual
    states (norms of 10 and more) exp(c . w) is ruled by the norms and the ratio is 0 for every space."""
    W = unit(X)
    _, eigenvectors = np.linalg.eigh(W.T @ W)
    log_z = logsumexp(W @ eigenvectors, axis=0)
    return float(np.exp(log_z.min() - log_z.max()))


# --- isomorphism between two languages on translation pairs (rows of X and Y are translations) --

def singular_value_gap(X: np.ndarray, Y: np.ndarray) -> float:
    """Dubossarsky et al. 2020: sum_i (log s_i(X) - log s_i(Y))^2 over the sorted singular values of the
    unit-length, mean-centred matrices. 0 = identical spectra (lower = more isomorphic)."""
    def log_spectrum(M):
        M = unit(M)
        M = M - M.mean(axis=0)
        s = np.linalg.svd(M, compute_uv=False)
        return np.log(np.clip(s, 1e-12, None))

    a, b = log_spectrum(X), log_spectrum(Y)
    k = min(len(a), len(b))
    return float(np.sum((a[:k] - b[:k]) ** 2))


def relational_similarity(X: np.ndarray, Y: np.ndarray) -> float:
    """RSIM (Vulić et al. 2020): Pearson correlation (x100) between the pairwise cosines within X and the
    pairwise cosines of the corresponding rows within Y (upper triangles). Higher = more isometric."""
    if len(X) != len(Y) or len(X) < 3:
        raise ValueError(f"relational similarity needs >= 3 aligned rows, got {len(X)} and {len(Y)}")
    upper = np.triu_indices(len(X), k=1)
    a, b = cosine_matrix(X, X)[upper], cosine_matrix(Y, Y)[upper]
    return float(100.0 * np.corrcoef(a, b)[0, 1])


def cosine_gap(X: np.ndarray, Y: np.ndarray) -> float:
    """Mean cosine of translation pairs minus mean cosine of non-translation pairs (x100; Libovický et al.
    2020's language-neutrality view). Higher = translations stand out more."""
    cos = cosine_matrix(X, Y)
    n = len(cos)
    if cos.shape != (n, n) or n < 2:
        raise ValueError(f"cosine gap needs >= 2 aligned rows, got {cos.shape}")
    diagonal = np.trace(cos) / n
    off = (cos.sum() - np.trace(cos)) / (n * n - n)
    return float(100.0 * (diagonal - off))


# --- unsupervised validation criteria (higher = better), Zhao & Eger 2022 §4.2 -------------------

def semantic_criterion(X: np.ndarray, Y: np.ndarray, k: int = 10, most_confident: int = 1000) -> float:
    """Mean cosine between each source vector and its CSLS-induced translation in Y, over the
    `most_confident` pairs with the highest CSLS score (Conneau et al. 2018's unsupervised criterion)."""
    csls = csls_matrix(X, Y, k)
    best = np.argmax(csls, axis=1)
    confidence = csls[np.arange(len(X)), best]
    keep = np.argsort(-confidence, kind="stable")[:most_confident]
    cos = np.einsum("ij,ij->i", unit(X[keep]), unit(Y[best[keep]]))
    return float(cos.mean())


def structural_criterion(X: np.ndarray, Y: np.ndarray) -> float:
    """Negative singular value gap of the two spaces (higher = more isomorphic). Rows need not be paired:
    only the spectra are compared."""
    return -singular_value_gap(X, Y)
