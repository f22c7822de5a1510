"""Contrastive word alignment: fine-tune so that each aligned word picks out its translation among the
batch's other words.

Wu & Dredze (2020), "Do Explicit Alignments Robustly Improve Multilingual Encoders?", EMNLP. The states
of the 2N words of N aligned word pairs in a batch go through a small projection head; each vector's
positive is its translation and every other of the 2N - 1 vectors is a negative (InfoNCE over cosine
similarities divided by a temperature, averaged over both directions: the "strong" variant); a penalty
lambda * ||theta - theta_0||^2 keeps the encoder's weights near the original. The head is trained with
the encoder and dropped afterwards: the checkpoint is the encoder alone.

`freeze_layers = k` keeps the embeddings' and the lower k transformer blocks' weights fixed during the
realignment (AlignFreeze, Bakos et al. 2025, freezes the lower half; `methods/align_freeze.py` registers
that variant under its own name).

What we took from the authors' released code rather than the paper text (which we could not read):
temperature 0.1, a two-layer head to 128 dimensions, the parameter penalty with weight 1, the last layer,
first sub-tokens, identical-string links dropped. Our budget (deviations): 500 sentence pairs per
language (they use up to 1M), one epoch, batches of 16 sentence pairs (all their links), max length 64,
the embedding matrix frozen, Adam at 5e-5 with 10% warm-up instead of AdamW at 1e-4 for 100k steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.finetune import (FinetuneBudget, LinkedPair, TrainableModel, TrainingData, link_states, linked_sentences,
                            linked_texts)
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource

SPEC = dict(
    mode=Mode.ONLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.OFF_THE_SHELF,
    level=Level.WORD,
    supervision=frozenset({Resource.WORD_ALIGNMENTS}),
)


def info_nce(source, target, temperature: float):
    """Symmetric InfoNCE over 2N vectors: row k of `source` and of `target` are each other's positive,
    every other vector of either side is a negative (cosine similarity / temperature)."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([source, target]), dim=-1)
    n = len(source)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


@method(MethodSpec(
    name="contrastive-align",
    category=Category.C,
    version="1",
    citation="Wu & Dredze 2020 (EMNLP)",
    summary="fine-tune with InfoNCE over word-aligned tokens (in-batch negatives), weights kept near the original",
    **SPEC,
))
@dataclass
class ContrastiveAlign(FinetuneBudget):
    temperature: float = 0.1
    projection: int = 128  # output width of the two-layer head (0 = no head)
    weight_penalty: float = 1.0  # lambda of ||theta - theta_0||^2 over the trained weights
    freeze_layers: int = 0  # lower transformer blocks kept fixed (AlignFreeze: half of them)
    drop_identical: bool = True  # links between identical strings teach nothing cross-lingual

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.WORD_ALIGNMENTS, budget=self.sentences_per_language),)

    def examples(self, data: TrainingData) -> list[LinkedPair]:
        pairs = linked_sentences(data, self.sentences_per_language, type(self).__name__)
        if not self.drop_identical:
            return pairs
        kept = [(s, t, tuple((i, j) for i, j in links if s[i].lower() != t[j].lower())) for s, t, links in pairs]
        return [pair for pair in kept if pair[2]]

    def fit(self, data: TrainingData, model: TrainableModel) -> "ContrastiveAlign":
        import torch

        examples = self.examples(data)
        model.freeze(embeddings=self.freeze_embeddings, layers_below=self.freeze_layers)
        torch.manual_seed(self.seed)
        hidden = model.module.config.hidden_size
        head = (torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, self.projection))
                if self.projection else torch.nn.Identity()).to(model.device)
        model.extra_parameters = list(head.parameters())  # trained with the encoder, not saved
        original = {name: p.detach().clone() for name, p in model.module.named_parameters() if p.requires_grad}

        def loss(batch):
            states = link_states(model, batch, self.layer, self.max_length)
            contrast = info_nce(head(states.source), head(states.target), self.temperature)
            penalty = sum(((p - original[name]) ** 2).sum() for name, p in model.module.named_parameters() if name in original)
            return contrast + self.weight_penalty * penalty, contrast, penalty

        record = self.train(model, examples, loss, type(self).__name__, ("total", "contrastive", "weight_penalty"),
                            texts=linked_texts)
        model.extra_parameters = []
        self.record_ = {**record, "sentence_pairs": len(examples), "frozen_blocks": self.freeze_layers}
        return self
