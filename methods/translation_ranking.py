"""Translation ranking: continue training the encoder as a dual encoder that ranks each sentence's
translation above the batch's other sentences.

Two objectives, as the `loss` parameter:
- `"additive-margin"`: LaBSE's bidirectional additive-margin softmax (Feng et al. 2022, ACL; after Yang
  et al. 2019): for N parallel pairs with cosine similarities s_ij, minimise the mean over i of
  -log(e^{c (s_ii - m)} / (e^{c (s_ii - m)} + sum_{j != i} e^{c s_ij})) in both directions (source to
  English and back), margin m = 0.3;
- `"xlco"`: InfoXLM's cross-lingual contrastive objective (Chi et al. 2021, NAACL): InfoNCE with the
  translation as the positive and the other translations as negatives, temperature 0.25, both directions.

Continued training of the base encoder, labelled as such (category f is pre-training on parallel data;
ours starts from the pretrained encoder and sees 500 pairs per language). Sentence vectors are the
mean-pooled states at `layer` (the pooling the sentence tasks use). Deviations we know of: the scale c
(20) is sentence-transformers' default, not a value found in the LaBSE text; InfoXLM's momentum encoder
and 131k-entry queue are replaced by in-batch negatives on cosine similarities (its code uses dot
products of a projected first-token state at layer 8); one epoch, batch 16, max length 64, embedding
matrix frozen, Adam 5e-5 with 10% warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.finetune import FinetuneBudget, TrainableModel, TrainingData, parallel_pairs
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource

LOSSES = ("additive-margin", "xlco")


def ranking_loss(source, target, loss: str, margin: float = 0.3, scale: float = 20.0, temperature: float = 0.25):
    """Mean of both directions' softmax cross-entropy over cosine similarities; row i of `source` and of
    `target` are translations of each other."""
    import torch
    import torch.nn.functional as F

    similarity = F.normalize(source, dim=-1) @ F.normalize(target, dim=-1).T
    if loss == "additive-margin":
        logits = scale * (similarity - margin * torch.eye(len(source), device=source.device))
    else:
        logits = similarity / temperature
    labels = torch.arange(len(source), device=source.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


@method(MethodSpec(
    name="translation-ranking",
    category=Category.F,
    version="1",
    citation="Feng et al. 2022 (ACL, LaBSE); Chi et al. 2021 (NAACL, InfoXLM)",
    mode=Mode.ONLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.PARALLEL_SENTENCES}),
    summary="continued training as a dual encoder ranking translations (additive margin or InfoNCE), in-batch negatives",
))
@dataclass
class TranslationRanking(FinetuneBudget):
    loss: str = "additive-margin"
    margin: float = 0.3
    scale: float = 20.0
    temperature: float = 0.25

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"translation-ranking: loss must be one of {LOSSES}, got {self.loss!r}")

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.PARALLEL_SENTENCES, budget=self.sentences_per_language),)

    def fit(self, data: TrainingData, model: TrainableModel) -> "TranslationRanking":
        pairs = parallel_pairs(data, "translation-ranking")
        model.freeze(embeddings=self.freeze_embeddings)

        def loss(batch):
            vectors = model.mean_pooled([a for a, _ in batch] + [b for _, b in batch], self.layer, self.max_length)
            value = ranking_loss(vectors[: len(batch)], vectors[len(batch):], self.loss, self.margin, self.scale,
                                 self.temperature)
            return (value,)

        record = self.train(model, pairs, loss, "translation-ranking", (self.loss,), texts=lambda pair: pair)
        self.record_ = {**record, "sentence_pairs": len(pairs)}
        return self
