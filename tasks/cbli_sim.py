"""Synthetic contextual BLI (Zhao & Eger 2022, §4.3): a controlled check of mapping methods.

SYNTHETIC DATA, generated from the cell's seed; no language and no encoder is involved, and the
leaderboard labels the task as synthetic. The paper's set-up, and where we had to choose:

- 20 words (`words`) in a two-dimensional space (`dim`); word i's mean mu_i ~ U[-5, 5] per component;
  each of its k = `occurrences` contextual occurrences (the paper sweeps k in 5..100) is drawn from
  N(mu_i, I) for the training set and from N(mu_i + epsilon, I) for the test set, epsilon added to every
  component (epsilon = 0 for *-same, `shift` for *-shifted; the paper sweeps 0..5).
- Isomorphism degree t (the paper: 1..10): t = 1 maps source to target with one orthogonal matrix.
  For t > 1 the paper "combine[s] translation with rotation" without saying how; our reading: the words
  fall into t groups (word i in group i mod t), each mapped by its own rotation Q_g and translation
  b_g ~ U[-5, 5] per component, so no single map, linear or not, is exact unless t = 1. iso-* use t = 1,
  noniso-* use t = `degree`. Target vectors carry no extra noise (the paper adds none).
- The paper also draws a validation set; here no method uses validation data (selection is by the
  unsupervised criteria on the training vectors), so none is drawn.

Supervised methods fit on the training pairs; anchor-free methods on the same vectors with the
pairing destroyed (each side shuffled independently). For every test source occurrence the nearest
test target occurrence is retrieved; a hit is an occurrence of the same word. P@1 x100.
- Nearest by Euclidean distance (main, `p1`; cosine as `p1_cosine`). The paper reports "Precision@K, as
  in BLI" without naming the similarity. In two dimensions cosine keeps only the angle, i.e. throws away
  half of the coordinates' information, and the 20 clusters sit at every radius of [-5, 5]^2: test
  targets perturbed by N(0, 0.05^2) before retrieval score 85.7 by Euclidean but 33.5 by cosine on seed 0
  (v2 used cosine as main, which made every inexact map look like chance). The four "languages" are the settings: iso-same, iso-shifted, noniso-same,
noniso-shifted. `simulate_spaces` takes the paper's sweep parameters (k, t, epsilon) directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bench import diagnostics as dg
from bench.alignment import AlignmentData
from bench.languages import PIVOT
from bench.metrics import hit_items
from bench.registry import task
from bench.specs import EncodeSpec, Level, Score, TaskSpec
from bench.taskapi import TaskContext

SETTINGS = ("iso-same", "iso-shifted", "noniso-same", "noniso-shifted")
SOURCE = "sim"  # the synthetic source "language" code handed to the method


@dataclass(frozen=True)
class SimulatedSpaces:
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    words_test: np.ndarray  # word id of each test occurrence (row i of X_test pairs with row i of Y_test)


def group_maps(degree: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`degree` rigid maps (rotations, translations); one map without translation when degree = 1."""
    rotations = np.stack([np.linalg.qr(rng.normal(size=(dim, dim)))[0] for _ in range(degree)])
    translations = rng.uniform(-5, 5, size=(degree, dim)) if degree > 1 else np.zeros((1, dim))
    return rotations, translations


def simulate_spaces(seed: int, words: int = 20, occurrences: int = 100, dim: int = 2, degree: int = 1,
                    epsilon: float = 0.0) -> SimulatedSpaces:
    """One draw of the §4.3 set-up (module docstring) at isomorphism degree `degree` and domain shift `epsilon`."""
    if degree < 1 or degree > words:
        raise ValueError(f"cbli-sim: isomorphism degree must be in 1..{words}, got {degree}")
    rng = np.random.default_rng(seed)
    means = rng.uniform(-5, 5, size=(words, dim))
    rotations, translations = group_maps(degree, dim, rng)
    group = np.arange(words) % degree

    def occurrences_of(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        word = np.repeat(np.arange(words), occurrences)
        X = centre[word] + rng.normal(size=(len(word), dim))
        Y = np.einsum("nd,nde->ne", X, rotations[group[word]]) + translations[group[word]]
        return X.astype(np.float32), Y.astype(np.float32), word

    X_train, Y_train, _ = occurrences_of(means)
    X_test, Y_test, word_test = occurrences_of(means + epsilon)
    return SimulatedSpaces(X_train, Y_train, X_test, Y_test, word_test)


def simulate(setting: str, seed: int, words: int = 20, occurrences: int = 100, dim: int = 2, degree: int = 5,
             shift: float = 2.0) -> SimulatedSpaces:
    """The named setting: iso-* at t = 1, noniso-* at t = `degree`; *-shifted at epsilon = `shift`."""
    if setting not in SETTINGS:
        raise ValueError(f"cbli-sim: unknown setting {setting!r}; settings: {SETTINGS}")
    return simulate_spaces(seed, words, occurrences, dim, degree if setting.startswith("noniso") else 1,
                           shift if setting.endswith("shifted") else 0.0)


def training_data(spaces: SimulatedSpaces, seed: int) -> AlignmentData:
    """Pairs for supervised methods; the same vectors, independently shuffled, for anchor-free ones."""
    rng = np.random.default_rng(seed + 1)
    monolingual = {SOURCE: spaces.X_train[rng.permutation(len(spaces.X_train))],
                   PIVOT: spaces.Y_train[rng.permutation(len(spaces.Y_train))]}
    return AlignmentData(PIVOT, (SOURCE, PIVOT), pairs={SOURCE: (spaces.X_train, spaces.Y_train)},
                         monolingual=monolingual, provenance={"synthetic": "cbli-sim"})


def word_hits(scores: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Per test occurrence: is its nearest target an occurrence of the same word?"""
    return words[np.argmax(scores, axis=1)] == words


def word_precision(scores: np.ndarray, words: np.ndarray) -> float:
    """P@1 x100 where any occurrence of the right word counts as a hit."""
    return float(100.0 * word_hits(scores, words).mean())


@task(TaskSpec(
    name="cbli-sim",
    version="3",
    protocol="synthetic-gaussian-words-euclidean-p1",
    metrics=("p1", "p1_cosine"),
    main_metric="p1",
    higher_is_better=True,
    granularity=Level.WORD,
    dataset="SYNTHETIC: Gaussian word clusters generated from the seed (no real language)",
    citation="Zhao & Eger 2022 (§4.3 simulation)",
    summary="synthetic contextual BLI: isomorphic vs non-isomorphic spaces, with and without domain shift",
    kind="synthetic",
))
@dataclass(frozen=True)
class CbliSim:
    words: int = 20
    occurrences: int = 100
    dim: int = 2
    degree: int = 5
    shift: float = 2.0

    def languages(self, data_dir: Path) -> list[str]:
        return list(SETTINGS)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return ()

    def encode_spec(self, layer: int) -> EncodeSpec:
        return EncodeSpec(layers=(layer,))  # unused: the vectors are simulated

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return []  # simulated from the seed

    def requirements(self) -> frozenset:
        return frozenset()

    def protocol(self, layer: int) -> dict:
        return {"dataset": "SYNTHETIC (generated from the seed; not real-language data)",
                "split": f"train: {self.occurrences} occurrences of each of {self.words} words ~ N(mu_i, I); test: as "
                         f"many fresh ones ~ N(mu_i + epsilon, I), epsilon 0 (*-same) or {self.shift} (*-shifted)",
                "spaces": f"dim {self.dim}, means ~ U[-5,5]; target = Q x for iso-*, {self.degree} groups of words each "
                          f"with its own rotation and translation for noniso-*",
                "layer": "none (no encoder: simulated vectors)", "direction": f"{SOURCE} -> {PIVOT}",
                "metric": "P@1 x100 among all test target occurrences, same word = hit; nearest by Euclidean distance "
                          "(main, p1) and by cosine (p1_cosine)",
                "fit": "supervised methods on the training pairs, anchor-free ones on independently shuffled sides"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        return {}

    def evaluate(self, encoder, language: str, ctx: TaskContext) -> list[Score]:
        raise TypeError("cbli-sim fits the method on simulated data itself: the runner calls evaluate_method")

    def evaluate_method(self, make_method: Callable, language: str, ctx: TaskContext) -> list[Score]:
        spaces = simulate(language, ctx.seed, self.words, self.occurrences, self.dim, self.degree, self.shift)
        method = make_method().fit(training_data(spaces, ctx.seed))
        X = np.asarray(method.transform(spaces.X_test, SOURCE), np.float32)
        Y = np.asarray(method.transform(spaces.Y_test, PIVOT), np.float32)
        distance = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
        by_distance, by_cosine = word_hits(-distance, spaces.words_test), word_hits(dg.cosine_matrix(X, Y), spaces.words_test)
        return [Score("p1", 100.0 * float(by_distance.mean()), len(X), items=hit_items(by_distance)),
                Score("p1_cosine", 100.0 * float(by_cosine.mean()), len(X), items=hit_items(by_cosine))]
