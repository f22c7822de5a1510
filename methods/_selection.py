"""Checkpoint selection for trained mappings (Zhao & Eger 2022, §4.2): a fixed number of epochs, or
the epoch that maximises an unsupervised validation criterion on the mapped anchors' source side
against the target side (no validation data).

Both criteria start, as in §4.2, from the most confident CSLS translations of the mapped sources:
semantic = their mean cosine (Lample et al. 2018); structural = minus the singular-value gap (Dubossarsky
et al. 2020) between the sources and their translations. Scaled down: the paper takes the 30k most
confident translations; we score a fixed 2,000-row probe per side and keep its 1,000 most confident
pairs, since CSLS is quadratic in the probe and runs after every epoch."""

from __future__ import annotations

from typing import Callable

import numpy as np

from bench import diagnostics

SELECTIONS = ("epochs", "semantic", "structural")


def check_selection(method: str, selection: str) -> None:
    if selection not in SELECTIONS:
        raise ValueError(f"{method}: selection must be one of {SELECTIONS}, got {selection!r}")


MOST_CONFIDENT = 1000


def confident_translations(mapped: np.ndarray, target: np.ndarray, k: int = 10,
                           most_confident: int = MOST_CONFIDENT) -> tuple[np.ndarray, np.ndarray]:
    """(source rows, target rows) of the `most_confident` CSLS nearest-neighbour translations."""
    csls = diagnostics.csls_matrix(mapped, target, k)
    best = np.argmax(csls, axis=1)
    keep = np.argsort(-csls[np.arange(len(mapped)), best], kind="stable")[:most_confident]
    return keep, best[keep]


def structural_criterion(mapped: np.ndarray, target: np.ndarray) -> float:
    """Minus the singular-value gap between the confidently translated sources and their translations."""
    rows, cols = confident_translations(mapped, target)
    return -diagnostics.singular_value_gap(mapped[rows], target[cols])


def criterion(selection: str, mapped: np.ndarray, target: np.ndarray) -> float:
    """Higher is better. "epochs" scores every epoch equally, so the last one is kept."""
    if selection == "semantic":
        return diagnostics.semantic_criterion(mapped, target, most_confident=MOST_CONFIDENT)
    if selection == "structural":
        return structural_criterion(mapped, target)
    return 0.0


def criterion_sample(n: int, size: int = 2000, seed: int = 0) -> np.ndarray:
    """A fixed subset of anchor rows on which criteria are computed (they are O(n^2))."""
    return np.sort(np.random.default_rng(seed).choice(n, min(n, size), replace=False))


def fit_each_language(data, method: str, anchors: str, train: Callable) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Train one network per non-pivot language with `train(X, Y) -> (state, best epoch)`; returns the
    weights keyed "<lang>:<parameter>" and the chosen epoch per language (the methods' fitted state)."""
    from bench.alignment import anchor_pairs

    weights, best_epoch = {}, {}
    for lang in data.languages:
        if lang != data.pivot:
            X, Y = anchor_pairs(data, lang, method, anchors)
            state, epoch = train(X.astype(np.float32), Y.astype(np.float32))
            weights.update({f"{lang}:{name}": value for name, value in state.items()})
            best_epoch[lang] = np.array(epoch)
    return weights, best_epoch


def train_epochs(module, optimizer, loss_of: Callable, mapped: Callable, X: np.ndarray, Y: np.ndarray, epochs: int,
                 batch_size: int, selection: str, seed: int) -> tuple[dict[str, np.ndarray], int]:
    """Shuffled mini-batches for `epochs` epochs; after each, score `mapped(X_probe)` against Y_probe with
    the selection criterion and keep the best epoch's weights (ties keep the later epoch). `loss_of(Xb,
    Yb)` returns the batch loss; `mapped(Xb)` the mapped vectors (both on torch tensors)."""
    import torch

    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    rng, probe = np.random.default_rng(seed), criterion_sample(len(X), seed=seed)
    best, best_state, best_epoch = -np.inf, None, 0
    for epoch in range(1, epochs + 1):
        module.train()
        for batch in np.array_split(rng.permutation(len(X)), max(1, len(X) // batch_size)):
            optimizer.zero_grad()
            loss = loss_of(Xt[batch], Yt[batch])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at epoch {epoch}")
            loss.backward()
            optimizer.step()
        module.eval()
        with torch.no_grad():
            score = criterion(selection, mapped(Xt[probe]).numpy(), Y[probe])
        if score >= best:
            best, best_epoch = score, epoch
            best_state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    return best_state, best_epoch
