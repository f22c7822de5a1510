"""Shared pieces of the anchor-free mappings (category b), also used by Procrustes.

- `unpaired_vectors`: each language's own unpaired vectors (no pairing is ever used).
- `semi_orthogonal` / `procrustes_map`: the (semi-)orthogonal Procrustes solution, also between spaces of
  different dimension (W = U V^T from the SVD of X^T Y; W has orthonormal rows or columns).

The CSLS dictionary induction and the bootstrapping of Zhao & Eger (2022) live in `methods._bootstrap`,
so that editing them does not change the code digest (and re-run the cells) of the closed-form Procrustes.
"""

from __future__ import annotations

import numpy as np

from bench.alignment import AlignmentData, MissingResourceError

UNITS = ("tokens", "sentences")


def check_choice(method: str, name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{method}: {name} must be one of {allowed}, got {value!r}")


def unpaired_vectors(data: AlignmentData, lang: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors of `lang`, vectors of the pivot) as float32; the rows are NOT paired."""
    for needed in (lang, data.pivot):
        if needed not in data.monolingual:
            raise MissingResourceError(f"{method}: no monolingual text for {needed}")
    return np.asarray(data.monolingual[lang], np.float32), np.asarray(data.monolingual[data.pivot], np.float32)


def semi_orthogonal(M: np.ndarray) -> np.ndarray:
    """The nearest matrix with orthonormal rows or columns: U V^T from the thin SVD of M."""
    U, _, Vt = np.linalg.svd(np.asarray(M, np.float64), full_matrices=False)
    return U @ Vt


def procrustes_map(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """argmin ||X W - Y||_F over W with orthonormal columns (rows when X is wider than Y)."""
    return semi_orthogonal(np.asarray(X, np.float64).T @ np.asarray(Y, np.float64))
