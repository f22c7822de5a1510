"""Checkpoint selection for trained mappings (Zhao & Eger 2022, §4.2): a fixed number of epochs, or
the epoch that maximises an unsupervised validation criterion on the mapped anchors' source side
against the target side (no validation data)."""

from __future__ import annotations

import numpy as np

from bench import diagnostics

SELECTIONS = ("epochs", "semantic", "structural")


def check_selection(method: str, selection: str) -> None:
    if selection not in SELECTIONS:
        raise ValueError(f"{method}: selection must be one of {SELECTIONS}, got {selection!r}")


def criterion(selection: str, mapped: np.ndarray, target: np.ndarray) -> float:
    """Higher is better. "epochs" scores every epoch equally, so the last one is kept."""
    if selection == "semantic":
        return diagnostics.semantic_criterion(mapped, target)
    if selection == "structural":
        return diagnostics.structural_criterion(mapped, target)
    return 0.0


def criterion_sample(n: int, size: int = 2000, seed: int = 0) -> np.ndarray:
    """A fixed subset of anchor rows on which criteria are computed (they are O(n^2))."""
    return np.sort(np.random.default_rng(seed).choice(n, min(n, size), replace=False))
