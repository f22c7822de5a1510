"""Shared pieces of the anchor-free mappings (category b) and their bootstrapping.

- `unpaired_vectors`: each language's own unpaired vectors (no pairing is ever used).
- `csls_dictionary`: pseudo-pairs induced by mutual nearest neighbours under CSLS (Conneau et al. 2018).
- `semi_orthogonal` / `procrustes_map`: the (semi-)orthogonal Procrustes solution, also between spaces of
  different dimension (W = U V^T from the SVD of X^T Y; W has orthonormal rows or columns).
- The bootstrapping constraints of Zhao & Eger (2022, Algorithm 1), applied on induced pseudo-pairs
  (A = mapped sources, B = their induced targets), in our reading of the paper's Eq. 4 and 5, whose exact
  text could not be read offline:
  * graph-structure (Eq. 4): mean squared difference of the two cosine-similarity graphs,
    mean_ij (cos(a_i, a_j) - cos(b_i, b_j))^2 -- the mapping must preserve the targets' neighbourhood graph;
  * cross-correlation (Eq. 5): with every dimension standardised over the pairs and C = A_std^T B_std / n,
    sum_d (1 - C_dd)^2 + off_weight * sum_{d != e} C_de^2 -- paired dimensions correlate, others decorrelate;
  * procrustes: the least-squares pairing ||a_i - b_i||^2 (solved in closed form for linear maps).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bench.alignment import AlignmentData, MissingResourceError
from bench.diagnostics import csls_matrix, unit

UNITS = ("tokens", "sentences")
CONSTRAINTS = ("none", "procrustes", "cross-correlation", "graph-structure")


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


def csls_dictionary(mapped: np.ndarray, target: np.ndarray, k: int = 10, size: int = 5000,
                    mutual: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-pairs (source rows, target rows) among the first `size` rows of each side: each source's
    CSLS nearest target, kept only when that target's nearest source is the same row (`mutual`)."""
    a, b = mapped[:size], target[:size]
    csls = csls_matrix(np.asarray(a, np.float32), np.asarray(b, np.float32), k)
    forward = np.argmax(csls, axis=1)
    if not mutual:
        return np.arange(len(a)), forward
    backward = np.argmax(csls, axis=0)
    keep = np.flatnonzero(backward[forward] == np.arange(len(a)))
    return keep, forward[keep]


# --- the constraints, in numpy (reference) and torch (training) ------------------------------------

def _standardise(M: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return (M - M.mean(0)) / (M.std(0) + eps)


def cross_correlation_loss(A: np.ndarray, B: np.ndarray, off_weight: float = 5e-3) -> float:
    """Eq. 5 (our reading): see the module docstring. Population std (ddof 0)."""
    A, B = _standardise(np.asarray(A, np.float64)), _standardise(np.asarray(B, np.float64))
    C = A.T @ B / len(A)
    on = np.diag(C)
    return float(((1 - on) ** 2).sum() + off_weight * ((C ** 2).sum() - (on ** 2).sum()))


def graph_structure_loss(A: np.ndarray, B: np.ndarray) -> float:
    """Eq. 4 (our reading): mean squared difference of the cosine-similarity graphs of A and of B."""
    return float(((unit(A) @ unit(A).T - unit(B) @ unit(B).T) ** 2).mean())


def torch_constraint(name: str, off_weight: float = 5e-3) -> Callable:
    """The constraint as a differentiable torch loss of (mapped sources, induced targets)."""
    import torch

    def standardise(M):
        return (M - M.mean(0)) / (M.std(0, unbiased=False) + 1e-6)

    def cross_correlation(A, B):
        C = standardise(A).T @ standardise(B) / A.shape[0]
        on = torch.diagonal(C)
        return ((1 - on) ** 2).sum() + off_weight * ((C ** 2).sum() - (on ** 2).sum())

    def graph_structure(A, B):
        a, b = torch.nn.functional.normalize(A, dim=1), torch.nn.functional.normalize(B, dim=1)
        return ((a @ a.T - b @ b.T) ** 2).mean()

    def least_squares(A, B):
        return ((A - B) ** 2).sum(-1).mean()

    losses = {"cross-correlation": cross_correlation, "graph-structure": graph_structure, "procrustes": least_squares}
    if name not in losses:
        raise ValueError(f"no trainable loss for constraint {name!r}; choose from {sorted(losses)}")
    return losses[name]


def bootstrap(mapped: Callable[[np.ndarray], np.ndarray], retrain: Callable[[np.ndarray, np.ndarray], None],
              score: Callable[[], float], snapshot: Callable[[], object], X: np.ndarray, Y: np.ndarray, rounds: int,
              k: int = 10, size: int = 5000) -> tuple[list[int], int, object]:
    """Zhao & Eger (2022) Algorithm 1: `rounds` times, induce pseudo-pairs with CSLS on the current mapping
    and re-train on them (`retrain(X_pairs, Y_pairs)`). A round is kept only when the selection `score()`
    does not drop below the best so far (round 0 = the map before bootstrapping). Returns the number of
    pseudo-pairs per round, the kept round and its `snapshot()`."""
    sizes, best, best_round, best_state = [], score(), 0, snapshot()
    for round_ in range(1, rounds + 1):
        source_rows, target_rows = csls_dictionary(mapped(X), Y, k, size)
        if len(source_rows) < 2:
            break
        retrain(X[source_rows], Y[target_rows])
        sizes.append(int(len(source_rows)))
        current = score()
        if current >= best:
            best, best_round, best_state = current, round_, snapshot()
    return sizes, best_round, best_state
