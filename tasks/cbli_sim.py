"""Synthetic contextual BLI (Zhao & Eger 2022, §4.3): a controlled check of mapping methods.

SYNTHETIC DATA, generated from the cell's seed; no language and no encoder is involved, and the
leaderboard labels the task as synthetic. Our reading of the paper's set-up:

- `words` source words in `dim` dimensions; word w has a cluster mean mu_w ~ U[-5, 5]^dim, and each
  of its `occurrences` contextual occurrences is x = mu_w + noise * N(0, I).
- The target ("English") occurrence paired with x is y = Q x + t * delta_w + 0.1 * noise * N(0, I),
  with Q a random orthogonal matrix and delta_w ~ N(0, I) a per-word translation. Isomorphic settings
  use t = 0 (one rotation maps everything); non-isomorphic ones use t = `degree`, so no single linear
  map fits every word while a non-linear one can.
- Test occurrences come from the same words with every cluster mean shifted by epsilon * u_w (u_w a
  random unit vector per word): epsilon = 0 ("same" domain) or `shift` ("shifted" domain). The target
  side follows the same true map.

Supervised methods fit on the training pairs; anchor-free methods on the same vectors with the
pairing destroyed (each side shuffled independently). For every test source occurrence the nearest
test target occurrence is retrieved (cosine, main; Euclidean as well); a hit is an occurrence of the
same word. P@1 x100. The four "languages" are the settings: iso-same, iso-shifted, noniso-same,
noniso-shifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from bench import diagnostics as dg
from bench.alignment import AlignmentData
from bench.languages import PIVOT
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


def simulate(setting: str, seed: int, words: int = 20, occurrences: int = 50, dim: int = 10, degree: float = 3.0,
             shift: float = 2.0, noise: float = 0.5) -> SimulatedSpaces:
    if setting not in SETTINGS:
        raise ValueError(f"cbli-sim: unknown setting {setting!r}; settings: {SETTINGS}")
    rng = np.random.default_rng(seed)
    means = rng.uniform(-5, 5, size=(words, dim))
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    offsets = rng.normal(size=(words, dim)) * (degree if setting.startswith("noniso") else 0.0)
    direction = rng.normal(size=(words, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    epsilon = shift if setting.endswith("shifted") else 0.0

    def occurrences_of(centre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        word = np.repeat(np.arange(words), occurrences)
        X = centre[word] + noise * rng.normal(size=(len(word), dim))
        Y = X @ rotation + offsets[word] + 0.1 * noise * rng.normal(size=X.shape)
        return X.astype(np.float32), Y.astype(np.float32), word

    X_train, Y_train, _ = occurrences_of(means)
    X_test, Y_test, word_test = occurrences_of(means + epsilon * direction)
    return SimulatedSpaces(X_train, Y_train, X_test, Y_test, word_test)


def training_data(spaces: SimulatedSpaces, seed: int) -> AlignmentData:
    """Pairs for supervised methods; the same vectors, independently shuffled, for anchor-free ones."""
    rng = np.random.default_rng(seed + 1)
    monolingual = {SOURCE: spaces.X_train[rng.permutation(len(spaces.X_train))],
                   PIVOT: spaces.Y_train[rng.permutation(len(spaces.Y_train))]}
    return AlignmentData(PIVOT, (SOURCE, PIVOT), pairs={SOURCE: (spaces.X_train, spaces.Y_train)},
                         monolingual=monolingual, provenance={"synthetic": "cbli-sim"})


def word_precision(scores: np.ndarray, words: np.ndarray) -> float:
    """P@1 x100 where any occurrence of the right word counts as a hit."""
    return float(100.0 * (words[np.argmax(scores, axis=1)] == words).mean())


@task(TaskSpec(
    name="cbli-sim",
    version="1",
    protocol="synthetic-gaussian-words-p1",
    metrics=("p1", "p1_euclidean"),
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
    occurrences: int = 50
    dim: int = 10
    degree: float = 3.0
    shift: float = 2.0
    noise: float = 0.5

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
                "split": f"train: {self.occurrences} occurrences of each of {self.words} words; test: as many fresh "
                         f"occurrences, cluster means shifted by epsilon (0 for *-same, {self.shift} for *-shifted)",
                "spaces": f"dim {self.dim}, means ~ U[-5,5], noise {self.noise}; target = Q x (+ per-word translation "
                          f"of scale {self.degree} for noniso-*)",
                "layer": "none (no encoder: simulated vectors)", "direction": f"{SOURCE} -> {PIVOT}",
                "metric": "P@1 x100 among all test target occurrences, same word = hit; cosine (main) and Euclidean",
                "fit": "supervised methods on the training pairs, anchor-free ones on independently shuffled sides"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        return {}

    def evaluate(self, encoder, language: str, ctx: TaskContext) -> list[Score]:
        raise TypeError("cbli-sim fits the method on simulated data itself: the runner calls evaluate_method")

    def evaluate_method(self, make_method: Callable, language: str, ctx: TaskContext) -> list[Score]:
        spaces = simulate(language, ctx.seed, self.words, self.occurrences, self.dim, self.degree, self.shift,
                          self.noise)
        method = make_method().fit(training_data(spaces, ctx.seed))
        X = np.asarray(method.transform(spaces.X_test, SOURCE), np.float32)
        Y = np.asarray(method.transform(spaces.Y_test, PIVOT), np.float32)
        distance = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
        return [Score("p1", word_precision(dg.cosine_matrix(X, Y), spaces.words_test), len(X)),
                Score("p1_euclidean", word_precision(-distance, spaces.words_test), len(X))]
