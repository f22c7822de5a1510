"""Code-switched continued training, a PROXY for category (e) (anchored multilingual pre-training).

Faithful anchored pre-training (Bi-SaELMo, DuEAM, ...) trains an encoder from scratch or for days on
large corpora: out of reach on 2 CPU cores. This method keeps the idea that a bilingual dictionary
anchors languages during (pre-)training and applies it as *continued training* of the pretrained
encoder, so its numbers measure that proxy, not anchored pre-training. In the spirit of code-switching
data augmentation (Qin et al. 2020, CoSDA-ML): English
sentences get a fraction `switch_rate` of their words replaced by MUSE-dictionary translations (test
words of the BLI dictionaries excluded, like every anchor), and the encoder is trained so that the
code-switched sentence and the original get the frozen original encoder's vector of the original
(mean-pooled at `layer`; MSE, both terms, as in multilingual distillation).

Choices of ours: one target language per sentence (the language its parallel data came from), words
matched case-insensitively, the first listed translation used; budget 500 English sentences per
language, up to 20,000 dictionary pairs per language, one epoch, batch 16, max length 64, embedding
matrix frozen, Adam 5e-5 with 10% warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.finetune import FinetuneBudget, TrainableModel, TrainingData, require
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource


def code_switch(sentence: str, translations: dict[str, str], rate: float, rng: np.random.Generator) -> str:
    """`sentence` with each word that has a translation replaced with probability `rate`."""
    words = sentence.split()
    return " ".join(translations[w.lower()] if w.lower() in translations and rng.random() < rate else w for w in words)


@method(MethodSpec(
    name="code-switch-proxy",
    category=Category.E,
    version="1",
    citation="PROXY for anchored pre-training (survey cat. e); code-switching as in Qin et al. 2020 (IJCAI)",
    mode=Mode.ONLINE,
    signal=Signal.BILINGUAL_DICTIONARY,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    supervision=frozenset({Resource.BILINGUAL_LEXICON, Resource.PARALLEL_SENTENCES}),
    summary="PROXY (continued training, not pre-training): code-switched English sentences mapped onto their originals",
))
@dataclass
class CodeSwitchProxy(FinetuneBudget):
    dictionary_pairs: int = 20000
    switch_rate: float = 0.3

    def needs(self) -> tuple[AnchorRequest, ...]:
        return (AnchorRequest(Resource.BILINGUAL_LEXICON, budget=self.dictionary_pairs),
                AnchorRequest(Resource.PARALLEL_SENTENCES, budget=self.sentences_per_language))

    def examples(self, data: TrainingData) -> list[tuple[str, str, str]]:
        """(code-switched sentence, original English sentence, its translation) triples, fixed by `seed`;
        the translation is used only by the semantic selection criterion (translation vs English)."""
        require(data, "dictionary", "code-switch-proxy")
        require(data, "parallel", "code-switch-proxy")
        rng = np.random.default_rng(self.seed)
        out = []
        for lang in data.languages:
            translations: dict[str, str] = {}
            for word, english in data.dictionary[lang]:
                translations.setdefault(english.lower(), word)
            out += [(code_switch(english, translations, self.switch_rate, rng), english, text)
                    for text, english in data.parallel[lang]]
        return out

    def fit(self, data: TrainingData, model: TrainableModel) -> "CodeSwitchProxy":
        import torch

        examples = self.examples(data)
        model.freeze(embeddings=self.freeze_embeddings)
        teacher = model.frozen_copy()

        def loss(batch):
            n = len(batch)
            original = [b for _, b, _ in batch]
            student = model.mean_pooled([a for a, _, _ in batch] + original, self.layer, self.max_length)
            with torch.no_grad():
                target = model.mean_pooled(original, self.layer, self.max_length, module=teacher)
            switched, kept = ((student[:n] - target) ** 2).mean(), ((student[n:] - target) ** 2).mean()
            return switched + kept, switched, kept

        record = self.train(model, examples, loss, "code-switch-proxy", ("total", "code-switched", "original"),
                            texts=lambda example: (example[2], example[1]))
        switched_words = sum(a != b for a, b, _ in examples)
        self.record_ = {**record, "sentences": len(examples), "sentences_with_a_switch": switched_words,
                        "proxy": "continued training with code-switched text, not anchored pre-training"}
        return self
