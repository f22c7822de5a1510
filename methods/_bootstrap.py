"""Dictionary induction and bootstrapping for the anchor-free mappings (Zhao & Eger 2022, §3.2).

- `csls_dictionary`: pseudo-pairs induced by mutual nearest neighbours under CSLS (Conneau et al. 2018).
- `algorithm_1`: the bootstrapping procedure (identity start, n rounds of CSLS induction and training on
  density matching plus a constraint).
- The bootstrapping constraints of Zhao & Eger (2022, §3.2), on CSLS-induced pseudo-pairs (A = the
  mapped sources P M_Ỹ, B = their induced targets M_Y), as printed:
  * graph-structure (Eq. 4): ||A A^T - B B^T||^2, the squared Frobenius norm of the difference of the
    two weighted adjacency (Gram) matrices, on the raw vectors (Lemma 2);
  * cross-correlation (Eq. 5): with A and B de-meaned over the pairs, sum_d (r_d - 1)^2 where
    r_d = <A_d, B_d> / sqrt(<A_d, A_d> <B_d, B_d>) is dimension d's Pearson correlation (Prop. 1(ii)).
    Deviation: the printed denominator diag(A^T A) diag(B^T B) has no square root; the text says
    "Pearson cross-correlation", and without the root the target 1 is unreachable unless every
    dimension has unit norm, so we take the root;
  * procrustes: the least-squares pairing ||A - B||^2 (solved in closed form for linear maps). The
    paper's footnote 1 reports that this direct pairing loss "yields poor results" inside its own
    training; it is the [Method]+Procrustes baseline of §4.1.
  The paper minimises EMD + g (Algorithm 1, line 7) and prints no weight between the two; the terms
  differ by orders of magnitude (Eq. 4 grows with the squared norms of 256 x 256 Gram entries), so the
  methods minimise the sum by alternating steps: one adversarial step with the method's own optimiser,
  one constraint step with Adam (whose step size does not depend on the loss's scale).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bench.diagnostics import csls_matrix

CONSTRAINTS = ("none", "procrustes", "cross-correlation", "graph-structure")


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

def cross_correlation_loss(A: np.ndarray, B: np.ndarray, eps: float = 1e-12) -> float:
    """Eq. 5: sum over dimensions of (Pearson correlation of A_d with B_d - 1)^2 (module docstring)."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    A, B = A - A.mean(0), B - B.mean(0)
    r = (A * B).sum(0) / np.sqrt((A * A).sum(0) * (B * B).sum(0) + eps)
    return float(((r - 1) ** 2).sum())


def graph_structure_loss(A: np.ndarray, B: np.ndarray) -> float:
    """Eq. 4: ||A A^T - B B^T||_F^2 on the raw vectors."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return float(((A @ A.T - B @ B.T) ** 2).sum())


def torch_constraint(name: str) -> Callable:
    """The constraint as a differentiable torch loss of (mapped sources, induced targets), equal to the
    numpy reference above."""
    import torch

    def cross_correlation(A, B):
        A, B = A - A.mean(0), B - B.mean(0)
        r = (A * B).sum(0) / torch.sqrt((A * A).sum(0) * (B * B).sum(0) + 1e-12)
        return ((r - 1) ** 2).sum()

    def graph_structure(A, B):
        return ((A @ A.T - B @ B.T) ** 2).sum()

    def least_squares(A, B):
        return ((A - B) ** 2).sum(-1).mean()

    losses = {"cross-correlation": cross_correlation, "graph-structure": graph_structure, "procrustes": least_squares}
    if name not in losses:
        raise ValueError(f"no trainable loss for constraint {name!r}; choose from {sorted(losses)}")
    return losses[name]


def constraint_step(loss_of: Callable, forward: Callable, optimizer, pairs: tuple[np.ndarray, np.ndarray],
                    batch: int, rng: np.random.Generator) -> None:
    """One `optimizer` step on the constraint `loss_of(forward(sources), targets)` over `batch` pseudo-pairs
    drawn without replacement (the g of Algorithm 1, line 7)."""
    import torch

    rows = rng.choice(len(pairs[0]), min(batch, len(pairs[0])), replace=False)
    optimizer.zero_grad()
    loss_of(forward(torch.from_numpy(pairs[0][rows])), torch.from_numpy(pairs[1][rows])).backward()
    optimizer.step()


def algorithm_1(train_epoch: Callable[[tuple[np.ndarray, np.ndarray] | None], None],
                mapped: Callable[[np.ndarray], np.ndarray], score: Callable[[], float], snapshot: Callable[[], object],
                restore: Callable[[object], None], X: np.ndarray, Y: np.ndarray, constraint: str, rounds: int,
                epochs: int, k: int = 10, size: int = 5000) -> tuple[list[int], int, int]:
    """Zhao & Eger (2022) Algorithm 1 around a method's adversarial training, from its initial map (the
    identity, line 3). Each of `rounds` rounds induces pseudo-pairs P with CSLS on the current map (line 6)
    and trains `epochs` epochs of density matching plus the constraint g on those pairs (line 7):
    `train_epoch(pairs)`, with pairs None for `constraint == "none"` (plain adversarial training, one round).

    Model selection, our choice where the paper is silent on how it combines criterion and rounds: every
    epoch of every round is scored with `score()` and the best map is restored at the end (ties keep the
    later one; the initial map is candidate (0, 0)). Returns the pseudo-pair count per round and the
    chosen (round, epoch)."""
    sizes, best, best_state, chosen = [], score(), snapshot(), (0, 0)
    for round_ in range(1, (1 if constraint == "none" else rounds) + 1):
        pairs = None
        if constraint != "none":
            source_rows, target_rows = csls_dictionary(mapped(X), Y, k, size)
            sizes.append(int(len(source_rows)))
            if len(source_rows) < 2:
                break  # no mutual neighbours left to constrain on
            pairs = (X[source_rows], Y[target_rows])
        for epoch in range(1, epochs + 1):
            train_epoch(pairs)
            current = score()
            if current >= best:
                best, best_state, chosen = current, snapshot(), (round_, epoch)
    restore(best_state)
    return sizes, chosen[0], chosen[1]
