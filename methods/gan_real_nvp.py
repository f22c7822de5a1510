"""GAN-Real-NVP: the Real-NVP flow trained without anchors, as a Wasserstein-GAN generator, then bootstrapped.

Zhao & Eger (2022), Eq. 3 in our reading (the paper could not be read offline): the flow f (the
coupling layers of `methods/real_nvp.py`, starting at the identity) maps unpaired source vectors; a
critic D is trained to separate f(x) from target vectors with the Wasserstein objective
E[D(y)] - E[D(f(x))] (weights clipped to +-`clip`, Arjovsky et al. 2017), and f minimises

    -E[D(f(x))]  -  mle_weight * E[log p(y)]

with p the source density (a diagonal Gaussian) pushed forward through f: density matching by the
critic, density modelling by maximum likelihood. Defaults follow the issue's reading of the paper's
appendix (RMSprop, generator lr 1e-6, batch 32, MLE coefficient 1e-4); at lr 1e-6 the flow moves little
from the identity within a CPU budget, which the results show as they are. Each epoch's flow is scored
with the unsupervised `selection` criterion and the best kept; then `bootstrap_rounds` rounds of
Algorithm 1 (CSLS pseudo-pairs, re-training on the chosen constraint plus the MLE term at
`bootstrap_lr`) refine it, a round being kept only when the criterion improves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, unpaired_request
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._selection import check_selection, criterion, criterion_sample
from methods._bootstrap import CONSTRAINTS, bootstrap, torch_constraint
from methods._unsupervised import UNITS, check_choice, unpaired_vectors
from methods.real_nvp import check_same_dimension, coupling_flow, flow_transform, pushed_forward_log_density


def critic_network(dim: int, hidden: int):
    from torch import nn

    return nn.Sequential(nn.Linear(dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, 1))


@method(MethodSpec(
    name="gan-real-nvp",
    category=Category.B,
    version="1",
    citation="Zhao & Eger 2022 (GAN-Real-NVP); Arjovsky et al. 2017 (WGAN); Dinh et al. 2017 (Real NVP)",
    mode=Mode.OFFLINE,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.WORD,
    supervision=frozenset({Resource.MONOLINGUAL_TEXT}),
    summary="normalizing flow as a WGAN generator + MLE density modelling, CSLS bootstrapping",
))
@dataclass
class GanRealNvp:
    unit: str = "tokens"
    max_sentences: int = 2000
    max_vectors: int = 20000
    n_layers: int = 4
    hidden: int = 256
    epochs: int = 5
    epoch_size: int = 0  # generator steps per epoch; 0 = one pass over the source vectors
    batch_size: int = 32
    lr: float = 1e-6
    critic_lr: float = 5e-5
    critic_steps: int = 5
    critic_hidden: int = 512
    clip: float = 0.01
    mle_weight: float = 1e-4
    selection: str = "semantic"
    bootstrap: str = "procrustes"
    bootstrap_rounds: int = 3
    bootstrap_steps: int = 200
    bootstrap_lr: float = 1e-4
    csls_k: int = 10
    dictionary_size: int = 5000
    seed: int = 0

    def __post_init__(self):
        check_choice("gan-real-nvp", "unit", self.unit, UNITS)
        check_choice("gan-real-nvp", "bootstrap", self.bootstrap, CONSTRAINTS)
        check_selection("gan-real-nvp", self.selection)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (unpaired_request(self.unit, self.max_sentences, self.max_vectors),)

    def fit(self, data: AlignmentData) -> "GanRealNvp":
        self.__dict__.pop("_flows", None)
        self.pivot_ = data.pivot
        self.weights_, self.best_epoch_, self.pseudo_pairs_, self.best_round_ = {}, {}, {}, {}
        for lang in data.languages:
            if lang == data.pivot:
                continue
            X, Y = unpaired_vectors(data, lang, "gan-real-nvp")
            check_same_dimension("gan-real-nvp", lang, X, Y)
            flow, epoch, sizes, best_round = self._train(X, Y)
            self.weights_.update({f"{lang}:{k}": v.detach().numpy().copy() for k, v in flow.state_dict().items()})
            self.best_epoch_[lang], self.best_round_[lang] = np.array(epoch), np.array(best_round)
            self.pseudo_pairs_[lang] = np.array(sizes, np.int64)
        return self

    def _train(self, X: np.ndarray, Y: np.ndarray):
        import torch

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        flow = coupling_flow(X.shape[1], self.n_layers, self.hidden)
        critic = critic_network(Y.shape[1], self.critic_hidden)
        flow_opt = torch.optim.RMSprop(flow.parameters(), lr=self.lr)
        critic_opt = torch.optim.RMSprop(critic.parameters(), lr=self.critic_lr)
        log_density = pushed_forward_log_density(flow, X)
        Xt, Yt, b = torch.from_numpy(X), torch.from_numpy(Y), self.batch_size
        probe_x, probe_y = criterion_sample(len(X), seed=self.seed), criterion_sample(len(Y), seed=self.seed + 1)

        def score() -> float:
            flow.eval()
            with torch.no_grad():
                return criterion(self.selection, flow(Xt[probe_x])[0].numpy(), Y[probe_y])

        def snapshot() -> dict:
            return {k: v.detach().clone() for k, v in flow.state_dict().items()}

        best, best_state, best_epoch = score(), snapshot(), 0  # epoch 0: the identity map
        for epoch in range(1, self.epochs + 1):
            flow.train()
            for _ in range(self.epoch_size or max(1, len(X) // b)):
                for _ in range(self.critic_steps):
                    xb, yb = Xt[rng.integers(len(X), size=b)], Yt[rng.integers(len(Y), size=b)]
                    with torch.no_grad():
                        fake = flow(xb)[0]
                    critic_opt.zero_grad()
                    (critic(fake).mean() - critic(yb).mean()).backward()
                    critic_opt.step()
                    with torch.no_grad():
                        for parameter in critic.parameters():
                            parameter.clamp_(-self.clip, self.clip)
                xb, yb = Xt[rng.integers(len(X), size=b)], Yt[rng.integers(len(Y), size=b)]
                flow_opt.zero_grad()
                loss = -critic(flow(xb)[0]).mean() - self.mle_weight * log_density(yb).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"gan-real-nvp: non-finite generator loss at epoch {epoch}")
                loss.backward()
                flow_opt.step()
            current = score()
            if current >= best:
                best, best_state, best_epoch = current, snapshot(), epoch
        flow.load_state_dict(best_state)
        sizes, best_round = self._refine(flow, log_density, X, Y, score, snapshot)
        return flow.eval(), best_epoch, sizes, best_round

    def _refine(self, flow, log_density, X, Y, score, snapshot) -> tuple[list[int], int]:
        import torch

        if self.bootstrap == "none" or self.bootstrap_rounds == 0:
            return [], 0
        loss_of = torch_constraint(self.bootstrap)
        optimizer = torch.optim.RMSprop(flow.parameters(), lr=self.bootstrap_lr)
        rng = np.random.default_rng(self.seed)

        def mapped(A: np.ndarray) -> np.ndarray:
            flow.eval()
            with torch.no_grad():
                return flow(torch.from_numpy(A))[0].numpy()

        def retrain(Xp: np.ndarray, Yp: np.ndarray) -> None:
            flow.train()
            Xt, Yt = torch.from_numpy(Xp), torch.from_numpy(Yp)
            batch = min(len(Xp), max(self.batch_size, 256))
            for _ in range(self.bootstrap_steps):
                rows = torch.from_numpy(rng.choice(len(Xp), batch, replace=False))
                optimizer.zero_grad()
                loss = loss_of(flow(Xt[rows])[0], Yt[rows]) - self.mle_weight * log_density(Yt[rows]).mean()
                loss.backward()
                optimizer.step()

        sizes, best_round, best_state = bootstrap(mapped, retrain, score, snapshot, X, Y, self.bootstrap_rounds,
                                                  self.csls_k, self.dictionary_size)
        flow.load_state_dict(best_state)
        return sizes, best_round

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        return flow_transform(self, X, lang, "gan-real-nvp")
