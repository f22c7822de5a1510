"""Multilingual knowledge distillation: train the encoder so that an English sentence and its translation
both land on the frozen teacher's vector of the English sentence.

Reimers & Gurevych (2020), "Making Monolingual Sentence Embeddings Multilingual using Knowledge
Distillation", EMNLP: minimise MSE(student(s), teacher(s)) + MSE(student(t), teacher(s)) over parallel
pairs (s English, t its translation). Their teacher is a monolingual English sentence encoder and the
student a multilingual one; here the teacher is the frozen base encoder itself (already multilingual),
so the method pulls every language towards the original English space. Sentence vectors are mean-pooled
states at `layer`. Budget (deviations): 500 pairs per language, one epoch, batch 16, max length 64, the
embedding matrix frozen, Adam 5e-5 with 10% warm-up (their example script: lr 2e-5, batch 64).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.finetune import FinetuneBudget, TrainableModel, TrainingData, parallel_pairs
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


@method(MethodSpec(
    name="distill-multilingual",
    category=Category.F,
    version="1",
    citation="Reimers & Gurevych 2020 (EMNLP)",
    mode=Mode.ONLINE,
    signal=Signal.PARALLEL_CORPUS,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.PARALLEL_SENTENCES}),
    summary="student maps a sentence and its translation onto the frozen teacher's English vector",
))
@dataclass
class DistillMultilingual(FinetuneBudget):
    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.PARALLEL_SENTENCES, budget=self.sentences_per_language),)

    def fit(self, data: TrainingData, model: TrainableModel) -> "DistillMultilingual":
        import torch

        pairs = parallel_pairs(data, "distill-multilingual")
        model.freeze(embeddings=self.freeze_embeddings)
        teacher = model.frozen_copy()

        def loss(batch):
            n = len(batch)
            english = [b for _, b in batch]
            student = model.mean_pooled(english + [a for a, _ in batch], self.layer, self.max_length)
            with torch.no_grad():
                target = model.mean_pooled(english, self.layer, self.max_length, module=teacher)
            same = ((student[:n] - target) ** 2).mean()
            cross = ((student[n:] - target) ** 2).mean()
            return same + cross, same, cross

        record = self.train(model, pairs, loss, "distill-multilingual", ("total", "english", "translation"),
                            texts=lambda pair: pair)
        self.record_ = {**record, "sentence_pairs": len(pairs)}
        return self
