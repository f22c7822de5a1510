"""MUSE (adversarial): a linear map per language learned without anchors, bootstrapped by Algorithm 1.

Lample, Conneau et al. (2018), "Word Translation Without Parallel Data", ICLR. A discriminator (input
dropout, two leaky-ReLU hidden layers, sigmoid output) learns to tell mapped source vectors from target
vectors; the map W is trained to fool it (labels flipped, smoothing 0.1, SGD) and kept close to
orthogonal after every step by W <- (1 + beta) W - beta (W W^T) W.

Bootstrapping follows Zhao & Eger (2022), Algorithm 1 (`methods._bootstrap.algorithm_1`): W starts at
the identity; each of `bootstrap_rounds` rounds (the paper: 3 on real data) induces CSLS mutual-nearest-
neighbour pseudo-pairs with the current W, then trains `epochs` epochs in which every adversarial step
is followed by one Adam step (lr `bootstrap_lr`) on the `bootstrap` constraint over `pair_batch` pairs
("procrustes": least squares; "cross-correlation": Eq. 5; "graph-structure": Eq. 4) and the
orthogonality update. "none" is plain MUSE adversarial training (one round, no pairs). The epoch whose
W scores best on the `selection` criterion (default "semantic", MUSE's own) over all rounds is kept.

Deviations, for a CPU budget or where the papers are silent: an "epoch" is one pass over the language's
unpaired vectors (MUSE: 1M samples); the discriminator's hidden layers are 512 wide (MUSE: 2048);
MUSE's own refinement solves Procrustes in closed form after adversarial training, while here the
"procrustes" constraint is trained inside each round like the others, as Algorithm 1 writes it. Spaces
may differ in dimension (W starts semi-orthogonal then). The vectors are unpaired: contextual token
states (`unit = "tokens"`) or mean-pooled sentences of each language's own text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, unpaired_request
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._selection import check_selection, criterion, criterion_sample
from methods._bootstrap import CONSTRAINTS, algorithm_1, constraint_step, torch_constraint
from methods._unsupervised import UNITS, check_choice, semi_orthogonal, unpaired_vectors


def orthogonalise_step(weight, beta: float) -> None:
    """MUSE's update towards orthogonality, in place on a torch weight."""
    weight.copy_((1 + beta) * weight - beta * weight @ weight.T @ weight)


def discriminator(dim: int, hidden: int, dropout: float):
    from torch import nn

    return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                         nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


@method(MethodSpec(
    name="muse-adversarial",
    category=Category.B,
    version="2",
    citation="Lample, Conneau et al. 2018 (ICLR, MUSE); bootstrapping: Zhao & Eger 2022",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.WORD,
    supervision=frozenset({Resource.MONOLINGUAL_TEXT}),
    summary="orthogonal map trained against a discriminator, bootstrapped on CSLS pseudo-pairs (Algorithm 1)",
))
@dataclass
class MuseAdversarial:
    unit: str = "tokens"
    max_sentences: int = 2000  # unpaired text per language
    max_vectors: int = 20000  # token states sampled from it (unit = "tokens")
    epochs: int = 5
    epoch_size: int = 0  # mapping steps per epoch; 0 = one pass over the source vectors
    batch_size: int = 32
    dis_steps: int = 5
    dis_hidden: int = 512
    dis_dropout: float = 0.1
    dis_lr: float = 0.1
    map_lr: float = 0.1
    smoothing: float = 0.1
    beta: float = 0.001
    selection: str = "semantic"
    bootstrap: str = "procrustes"
    bootstrap_rounds: int = 3  # Algorithm 1, real data
    bootstrap_lr: float = 1e-3
    pair_batch: int = 256
    csls_k: int = 10
    dictionary_size: int = 5000
    seed: int = 0

    def __post_init__(self):
        check_choice("muse-adversarial", "unit", self.unit, UNITS)
        check_choice("muse-adversarial", "bootstrap", self.bootstrap, CONSTRAINTS)
        check_selection("muse-adversarial", self.selection)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (unpaired_request(self.unit, self.max_sentences, self.max_vectors),)

    def fit(self, data: AlignmentData) -> "MuseAdversarial":
        self.pivot_ = data.pivot
        self.weights_, self.best_epoch_, self.pseudo_pairs_, self.best_round_ = {}, {}, {}, {}
        for lang in data.languages:
            if lang != data.pivot:
                X, Y = unpaired_vectors(data, lang, "muse-adversarial")
                W, sizes, best_round, best_epoch = self._train(X, Y)
                self.weights_[lang], self.best_epoch_[lang] = W.astype(np.float32), np.array(best_epoch)
                self.pseudo_pairs_[lang], self.best_round_[lang] = np.array(sizes, np.int64), np.array(best_round)
        return self

    def _train(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, list[int], int, int]:
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        mapping = nn.Linear(X.shape[1], Y.shape[1], bias=False)
        with torch.no_grad():
            init = np.eye(Y.shape[1], X.shape[1]) if X.shape[1] == Y.shape[1] else semi_orthogonal(rng.normal(size=(Y.shape[1], X.shape[1])))
            mapping.weight.copy_(torch.from_numpy(init.astype(np.float32)))
        critic = discriminator(Y.shape[1], self.dis_hidden, self.dis_dropout)
        map_opt = torch.optim.SGD(mapping.parameters(), lr=self.map_lr)
        dis_opt = torch.optim.SGD(critic.parameters(), lr=self.dis_lr)
        constraint_opt = torch.optim.Adam(mapping.parameters(), lr=self.bootstrap_lr)
        constraint = None if self.bootstrap == "none" else torch_constraint(self.bootstrap)
        Xt, Yt, b = torch.from_numpy(X), torch.from_numpy(Y), self.batch_size
        # sources are labelled 1 - smoothing, targets smoothing (MUSE's convention)
        labels = torch.cat([torch.full((b, 1), 1 - self.smoothing), torch.full((b, 1), self.smoothing)])
        loss_fn = nn.BCEWithLogitsLoss()

        def train_epoch(pairs) -> None:
            for _ in range(self.epoch_size or max(1, len(X) // b)):
                critic.train()
                for _ in range(self.dis_steps):
                    xb, yb = Xt[rng.integers(len(X), size=b)], Yt[rng.integers(len(Y), size=b)]
                    with torch.no_grad():
                        fake = mapping(xb)
                    dis_opt.zero_grad()
                    loss_fn(critic(torch.cat([fake, yb])), labels).backward()
                    dis_opt.step()
                critic.eval()
                xb, yb = Xt[rng.integers(len(X), size=b)], Yt[rng.integers(len(Y), size=b)]
                map_opt.zero_grad()
                loss = loss_fn(critic(torch.cat([mapping(xb), yb])), 1 - labels)
                if not torch.isfinite(loss):
                    raise FloatingPointError("muse-adversarial: non-finite mapping loss")
                loss.backward()
                map_opt.step()
                if pairs is not None:
                    constraint_step(constraint, mapping, constraint_opt, pairs, self.pair_batch, rng)
                with torch.no_grad():
                    orthogonalise_step(mapping.weight, self.beta)

        def current_map() -> np.ndarray:
            return mapping.weight.detach().numpy().T.astype(np.float64)

        def restore(W: np.ndarray) -> None:
            with torch.no_grad():
                mapping.weight.copy_(torch.from_numpy(W.T.astype(np.float32)))

        sizes, best_round, best_epoch = algorithm_1(
            train_epoch, lambda A: A @ current_map(), lambda: self._score(current_map(), X, Y), current_map,
            restore, X, Y, self.bootstrap, self.bootstrap_rounds, self.epochs, self.csls_k, self.dictionary_size)
        return current_map(), sizes, best_round, best_epoch

    def _score(self, W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
        probe_x, probe_y = criterion_sample(len(X), seed=self.seed), criterion_sample(len(Y), seed=self.seed + 1)
        return criterion(self.selection, X[probe_x] @ W, Y[probe_y])

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if lang not in self.weights_:
            raise KeyError(f"muse-adversarial was not fitted for language {lang!r} (fitted: {sorted(self.weights_)})")
        return (np.asarray(X, np.float32) @ self.weights_[lang]).astype(np.float32)
