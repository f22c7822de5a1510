"""VecMap (unsupervised): similarity-distribution initialisation plus robust self-learning.

Artetxe, Labaka & Agirre (2018), "A robust self-learning method for fully unsupervised cross-lingual
mappings of word embeddings", ACL. Reimplemented from the paper's description (the authors' code is
GPL and was not consulted):

1. Normalisation: length-normalise, centre each dimension, length-normalise again (per language).
2. Initialisation without anchors: for the first `init_size` vectors of each side, the square root of the
   similarity matrix sqrt(X X^T) = U S U^T (from the SVD X = U S V^T) describes every vector by its
   similarity distribution; each row is sorted (so it no longer depends on which language's vectors
   they are), normalised as in step 1, and vectors are paired by CSLS nearest neighbours in both
   directions, giving the seed dictionary.
3. Self-learning until convergence: orthogonal maps from the dictionary (SVD of X_D^T Z_D = U S V^T;
   the source goes to the target space by X U V^T), then a new dictionary by CSLS nearest neighbours
   in both directions over the first `dictionary_size` vectors, with stochastic dictionary induction
   (similarities kept with probability p, starting at `keep_prob` and doubled whenever the objective --
   the mean best similarity -- has not improved for `patience` iterations; stop once p = 1 stalls).

Left out (and said so in the results' method parameters): the paper's final whitening, re-weighting and
de-whitening refinement, and frequency-based vocabulary cut-offs (contextual vectors have no
frequency ranks; the first rows of a shuffled sample stand in). Spaces of different dimension are
supported (the map is semi-orthogonal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, unpaired_request
from bench.diagnostics import csls_matrix
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._unsupervised import UNITS, check_choice, semi_orthogonal, unpaired_vectors


def normalise(X: np.ndarray, mean: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit length, centre (with `mean`, or the data's own), unit length; returns (vectors, mean)."""
    def unit(M):
        return M / np.maximum(np.linalg.norm(M, axis=1, keepdims=True), 1e-12)

    first = unit(np.asarray(X, np.float64))
    mean = first.mean(0) if mean is None else mean
    return unit(first - mean), mean


def similarity_distributions(X: np.ndarray) -> np.ndarray:
    """Rows of sqrt(X X^T), sorted in descending order and normalised: a language-independent signature."""
    U, S, _ = np.linalg.svd(X, full_matrices=False)
    root = (U * S) @ U.T
    return normalise(-np.sort(-root, axis=1))[0]


def bidirectional_csls(csls: np.ndarray, keep_prob: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Dictionary from nearest neighbours in both directions of a CSLS matrix, and the objective (mean best
    score per source row). With keep_prob < 1 each score is first dropped (set to -inf) with probability
    1 - keep_prob: stochastic dictionary induction."""
    objective = float(csls.max(axis=1).mean())
    if keep_prob < 1:
        csls = np.where(rng.random(csls.shape) < keep_prob, csls, -np.inf)
    forward, backward = np.argmax(csls, axis=1), np.argmax(csls, axis=0)
    source = np.concatenate([np.arange(csls.shape[0]), backward])
    target = np.concatenate([forward, np.arange(csls.shape[1])])
    return source, target, objective


@method(MethodSpec(
    name="vecmap-unsupervised",
    category=Category.B,
    version="1",
    citation="Artetxe, Labaka & Agirre 2018 (ACL)",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.WORD,
    supervision=frozenset({Resource.MONOLINGUAL_TEXT}),
    summary="similarity-distribution seed dictionary, then orthogonal self-learning with CSLS",
))
@dataclass
class VecmapUnsupervised:
    unit: str = "tokens"
    max_sentences: int = 2000
    max_vectors: int = 20000
    init_size: int = 4000
    dictionary_size: int = 5000
    csls_k: int = 10
    keep_prob: float = 0.1
    patience: int = 5
    threshold: float = 1e-6
    max_iterations: int = 200
    seed: int = 0

    def __post_init__(self):
        check_choice("vecmap-unsupervised", "unit", self.unit, UNITS)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (unpaired_request(self.unit, self.max_sentences, self.max_vectors),)

    def fit(self, data: AlignmentData) -> "VecmapUnsupervised":
        self.pivot_ = data.pivot
        self.mean_, self.weights_, self.iterations_ = {}, {}, {}
        # the pivot is normalised too, so it needs its own mean even when no other language is fitted (en-en)
        _, pivot_vectors = unpaired_vectors(data, data.pivot, "vecmap-unsupervised")
        target, self.mean_[data.pivot] = normalise(pivot_vectors)
        for lang in data.languages:
            if lang == data.pivot:
                continue
            X, _ = unpaired_vectors(data, lang, "vecmap-unsupervised")
            Xn, self.mean_[lang] = normalise(X)
            W, iterations = self._self_learning(Xn, target)
            self.weights_[lang], self.iterations_[lang] = W.astype(np.float32), np.array(iterations)
        self.mean_ = {lang: mean.astype(np.float32) for lang, mean in self.mean_.items()}
        return self

    def _self_learning(self, X: np.ndarray, Z: np.ndarray) -> tuple[np.ndarray, int]:
        rng = np.random.default_rng(self.seed)
        n = min(self.init_size, len(X), len(Z))
        seed_csls = csls_matrix(similarity_distributions(X[:n]), similarity_distributions(Z[:n]), self.csls_k)
        source, target, _ = bidirectional_csls(seed_csls, 1.0, rng)
        Xd, Zd = X[: self.dictionary_size], Z[: self.dictionary_size]
        keep_prob, best, last_improvement, W = self.keep_prob, -np.inf, 0, None
        for iteration in range(1, self.max_iterations + 1):
            W = semi_orthogonal(X[source].T @ Z[target])
            csls = csls_matrix(Xd @ W, Zd, self.csls_k)
            source, target, objective = bidirectional_csls(csls, keep_prob, rng)
            if objective - best >= self.threshold:
                best, last_improvement = objective, iteration
            elif iteration - last_improvement > self.patience:
                if keep_prob >= 1.0:
                    return W, iteration
                keep_prob, last_improvement = min(1.0, 2 * keep_prob), iteration
        return W, self.max_iterations

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang not in self.mean_:
            raise KeyError(f"vecmap-unsupervised was not fitted for language {lang!r} (fitted: {sorted(self.mean_)})")
        Xn = normalise(X, self.mean_[lang].astype(np.float64))[0]
        if lang == str(self.pivot_):
            return Xn.astype(np.float32)
        return (Xn @ self.weights_[lang]).astype(np.float32)
