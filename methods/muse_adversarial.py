"""MUSE (adversarial): a linear map per language learned without anchors, then refined by bootstrapping.

Lample, Conneau et al. (2018), "Word Translation Without Parallel Data", ICLR. A discriminator (input
dropout, two leaky-ReLU hidden layers, sigmoid output) learns to tell mapped source vectors from target
vectors; the map W is trained to fool it (labels flipped, smoothing 0.1, SGD) and kept close to
orthogonal after every step by W <- (1 + beta) W - beta (W W^T) W. The epoch whose map scores best on
the unsupervised criterion (`selection`, default "semantic": mean cosine of CSLS-induced translations,
MUSE's own) is kept, then refined by `bootstrap_rounds` rounds of Algorithm 1 of Zhao & Eger (2022):
CSLS mutual-nearest-neighbour pseudo-pairs and re-training under `bootstrap` ("procrustes", MUSE's
refinement, in closed form; "cross-correlation" or "graph-structure", gradient steps on the constraint
with W re-orthogonalised; "none" skips refinement). Rounds are kept only when the criterion improves.

Scaled to a CPU: an "epoch" is one pass over the language's unpaired vectors (MUSE: 1M samples), and
the discriminator's hidden layers are 512 wide (MUSE: 2048). Spaces may differ in dimension (W is
semi-orthogonal then). The vectors are unpaired: contextual token states (`unit = "tokens"`) or
mean-pooled sentences of each language's own text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, unpaired_request
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._selection import check_selection, criterion, criterion_sample
from methods._bootstrap import CONSTRAINTS, bootstrap, torch_constraint
from methods._unsupervised import UNITS, check_choice, procrustes_map, semi_orthogonal, unpaired_vectors


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
    version="1",
    citation="Lample, Conneau et al. 2018 (ICLR, MUSE); bootstrapping: Zhao & Eger 2022",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.WORD,
    supervision=frozenset({Resource.MONOLINGUAL_TEXT}),
    summary="orthogonal map trained against a discriminator, refined by CSLS bootstrapping",
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
    bootstrap_rounds: int = 5
    bootstrap_steps: int = 100  # gradient steps per round for the trainable constraints
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
                W, epoch = self._adversarial(X, Y)
                W, sizes, best_round = self._refine(W, X, Y)
                self.weights_[lang], self.best_epoch_[lang] = W.astype(np.float32), np.array(epoch)
                self.pseudo_pairs_[lang], self.best_round_[lang] = np.array(sizes, np.int64), np.array(best_round)
        return self

    def _score(self, W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> float:
        probe_x, probe_y = criterion_sample(len(X), seed=self.seed), criterion_sample(len(Y), seed=self.seed + 1)
        return criterion(self.selection, X[probe_x] @ W, Y[probe_y])

    def _adversarial(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, int]:
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
        Xt, Yt, b = torch.from_numpy(X), torch.from_numpy(Y), self.batch_size
        # sources are labelled 1 - smoothing, targets smoothing (MUSE's convention)
        labels = torch.cat([torch.full((b, 1), 1 - self.smoothing), torch.full((b, 1), self.smoothing)])
        loss_fn = nn.BCEWithLogitsLoss()
        best, best_W, best_epoch = -np.inf, None, 0
        for epoch in range(1, self.epochs + 1):
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
                    raise FloatingPointError(f"muse-adversarial: non-finite mapping loss at epoch {epoch}")
                loss.backward()
                map_opt.step()
                with torch.no_grad():
                    orthogonalise_step(mapping.weight, self.beta)
            W = mapping.weight.detach().numpy().T.astype(np.float64)
            score = self._score(W, X, Y)
            if score >= best:
                best, best_W, best_epoch = score, W.copy(), epoch
        return best_W, best_epoch

    def _refine(self, W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, list[int], int]:
        if self.bootstrap == "none" or self.bootstrap_rounds == 0:
            return W, [], 0
        state = {"W": W}

        def retrain(Xp: np.ndarray, Yp: np.ndarray) -> None:
            state["W"] = procrustes_map(Xp, Yp) if self.bootstrap == "procrustes" else self._gradient_round(state["W"], Xp, Yp)

        sizes, best_round, best_W = bootstrap(lambda A: A @ state["W"], retrain, lambda: self._score(state["W"], X, Y),
                                              lambda: state["W"], X, Y, self.bootstrap_rounds, self.csls_k,
                                              self.dictionary_size)
        return best_W, sizes, best_round

    def _gradient_round(self, W: np.ndarray, Xp: np.ndarray, Yp: np.ndarray) -> np.ndarray:
        import torch

        torch.manual_seed(self.seed)
        weight = torch.tensor(W.T.astype(np.float32), requires_grad=True)
        optimizer = torch.optim.Adam([weight], lr=1e-3)
        loss_of = torch_constraint(self.bootstrap)
        Xt, Yt = torch.from_numpy(Xp), torch.from_numpy(Yp)
        rng = np.random.default_rng(self.seed)
        batch = max(256, min(len(Xp), 2048))
        for _ in range(self.bootstrap_steps):
            rows = torch.from_numpy(rng.choice(len(Xp), min(batch, len(Xp)), replace=False))
            optimizer.zero_grad()
            loss_of(Xt[rows] @ weight.T, Yt[rows]).backward()
            optimizer.step()
            with torch.no_grad():
                orthogonalise_step(weight, self.beta)
        return weight.detach().numpy().T.astype(np.float64)

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if lang not in self.weights_:
            raise KeyError(f"muse-adversarial was not fitted for language {lang!r} (fitted: {sorted(self.weights_)})")
        return (np.asarray(X, np.float32) @ self.weights_[lang]).astype(np.float32)
