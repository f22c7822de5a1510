"""FCNN: a non-linear map per language, three fully-connected layers with tanh (Zhao & Eger 2022's
baseline), trained with mean squared error to send anchor vectors onto their English partners.

The checkpoint is the last epoch (`selection = "epochs"`) or the epoch with the best unsupervised
validation criterion (`"semantic"` or `"structural"`, `methods/_selection.py`). The learned weights
are stored as arrays; `transform` is a plain numpy forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.alignment import AlignmentData, anchor_request, anchor_resource
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from methods._selection import check_selection, fit_each_language, train_epochs

LAYERS = ("0", "2", "4")  # the Linear modules of the torch Sequential below


@method(MethodSpec(
    name="fcnn",
    category=Category.A,
    version="2",
    citation="Zhao & Eger 2022 (FCNN baseline)",
    mode=Mode.OFFLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.OFF_THE_SHELF,
    level=Level.WORD,
    supervision=frozenset({Resource.PARALLEL_SENTENCES, Resource.BILINGUAL_LEXICON, Resource.WORD_ALIGNMENTS}),
    summary="three tanh layers per language trained with MSE on anchors",
))
@dataclass
class Fcnn:
    anchors: str = "words"
    max_pairs: int = 20000
    hidden: int = 0  # 0 = the vectors' dimension
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    selection: str = "epochs"
    seed: int = 0

    def __post_init__(self):
        anchor_resource("fcnn", self.anchors)
        check_selection("fcnn", self.selection)

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (anchor_request("fcnn", self.anchors, self.max_pairs),)

    def fit(self, data: AlignmentData) -> "Fcnn":
        self.pivot_ = data.pivot
        self.weights_, self.best_epoch_ = fit_each_language(data, "fcnn", self.anchors, self._train)
        return self

    def _train(self, X: np.ndarray, Y: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        dim, hidden = X.shape[1], self.hidden or X.shape[1]
        net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                            nn.Linear(hidden, Y.shape[1]))
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        return train_epochs(net, optimizer, lambda x, y: ((net(x) - y) ** 2).sum(dim=1).mean(), net, X, Y,
                            self.epochs, self.batch_size, self.selection, self.seed)

    def transform(self, X: np.ndarray, lang: str) -> np.ndarray:
        if lang == str(self.pivot_):
            return X
        if f"{lang}:0.weight" not in self.weights_:
            raise KeyError(f"fcnn was not fitted for language {lang!r}")
        h = np.asarray(X, np.float32)
        for i, layer in enumerate(LAYERS):
            h = h @ self.weights_[f"{lang}:{layer}.weight"].T + self.weights_[f"{lang}:{layer}.bias"]
            if i < len(LAYERS) - 1:
                h = np.tanh(h)
        return h
