"""OT alignment: fine-tune the encoder so that the optimal-transport cost between the token states of a
sentence and those of its translation shrinks; no word alignments, sentence pairs only.

Alqahtani et al. (2021), "Using Optimal Transport as Alignment Objective for fine-tuning Multilingual
Contextualized Embeddings", Findings of EMNLP. Word alignment is left implicit: the entropic OT plan
between the two sentences' tokens (uniform masses) decides which states are pulled together.

We could read only the abstract, so the details are ours (stated here and in the README): the cost is
1 - cosine similarity between content-token states (special tokens excluded) at `layer`; the plan is
entropic (Sinkhorn, epsilon 0.1, 50 log-domain iterations, differentiated through); the loss is the
plan's transport cost <P, C> (what POT's `sinkhorn2` returns), averaged over the batch's pairs; the
English states are kept near the frozen original as in Cao et al. 2020 (weight `regularization`).
Budget: 500 sentence pairs per language, one epoch, batch 16, max length 64, embedding matrix frozen,
Adam 5e-5 with 10% warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.finetune import FinetuneBudget, TrainableModel, TrainingData, parallel_pairs
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


def sinkhorn_cost(cost, epsilon: float, iterations: int):
    """Transport cost <P, C> of the entropic OT plan between uniform masses on the rows and columns of
    `cost` (log-domain Sinkhorn, differentiable)."""
    import math

    import torch

    rows, cols = cost.shape
    log_a = torch.full((rows,), -math.log(rows), dtype=cost.dtype, device=cost.device)
    log_b = torch.full((cols,), -math.log(cols), dtype=cost.dtype, device=cost.device)
    f, g = torch.zeros_like(log_a), torch.zeros_like(log_b)
    for _ in range(iterations):
        f = epsilon * (log_a - torch.logsumexp((g[None, :] - cost) / epsilon, dim=1))
        g = epsilon * (log_b - torch.logsumexp((f[:, None] - cost) / epsilon, dim=0))
    plan = torch.exp((f[:, None] + g[None, :] - cost) / epsilon)
    return (plan * cost).sum()


@method(MethodSpec(
    name="ot-align",
    category=Category.D,
    version="1",
    citation="Alqahtani et al. 2021 (Findings of EMNLP)",
    mode=Mode.ONLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.DURING_ALIGNMENT,
    level=Level.WORD,
    supervision=frozenset({Resource.PARALLEL_SENTENCES}),
    summary="fine-tune to shrink the Sinkhorn OT cost between a sentence's and its translation's token states",
))
@dataclass
class OtAlign(FinetuneBudget):
    epsilon: float = 0.1
    iterations: int = 50
    regularization: float = 1.0

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.PARALLEL_SENTENCES, budget=self.sentences_per_language),)

    def fit(self, data: TrainingData, model: TrainableModel) -> "OtAlign":
        import torch
        import torch.nn.functional as F

        pairs = parallel_pairs(data, "ot-align")
        model.freeze(embeddings=self.freeze_embeddings)
        original = model.frozen_copy()
        special = set(model.tokenizer.all_special_ids)

        def loss(batch):
            n = len(batch)
            ids, mask = model.batch([a for a, _ in batch] + [b for _, b in batch], self.max_length)
            raw = model.hidden(ids, mask, self.layer)
            states, english = F.normalize(raw, dim=-1), raw[n:]
            content = mask.bool() & ~torch.isin(ids, torch.tensor(sorted(special), device=ids.device))
            with torch.no_grad():
                english0 = model.hidden(ids[n:], mask[n:], self.layer, module=original)
            costs = []
            for i in range(n):
                source, target = states[i][content[i]], states[n + i][content[n + i]]
                if len(source) and len(target):
                    costs.append(sinkhorn_cost(1 - source @ target.T, self.epsilon, self.iterations))
            transport = torch.stack(costs).mean()
            regulariser = (((english - english0) ** 2).sum(-1)[content[n:]].mean() if self.regularization
                           else torch.zeros((), device=ids.device))
            return transport + self.regularization * regulariser, transport, regulariser

        record = self.train(model, pairs, loss, "ot-align", ("total", "transport", "regulariser"), texts=lambda pair: pair)
        self.record_ = {**record, "sentence_pairs": len(pairs)}
        return self
