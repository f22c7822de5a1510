"""Zero-shot cross-lingual dependency parsing on Universal Dependencies, frozen-feature protocol.

A biaffine arc scorer and relation classifier (Dozat & Manning 2017) over frozen first-sub-token
vectors of layer L, trained on English EWT train, best epoch by EWT dev LAS, tested on every
language's test files (own treebank test and PUD). Relations are the universal part of DEPREL
(`nsubj:pass` -> `nsubj`), since language-specific subtypes do not transfer. UAS and LAS exclude
every word whose gold UPOS is PUNCT. Heads: each word's best-scoring head (no tree constraint).
Baseline: every word attached to its neighbour in the direction most English heads lie, with the
most frequent English relation among non-punctuation words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import PIVOT
from bench.metrics import attachment_items, attachment_scores
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.tasktime import TrainingStep, augmented_sentences, objective_key, step_loss
from tasks._transfer import HeadConfig, HeadStore, content_key, fit_or_load, length_bucketed_batches, sample, train_head
from bench.wordvectors import WORD_FEATURES_NOTE, word_features
from tasks._ud import UdTransferTask, load_ud, source_file, test_subsets, ud_files
from tasks._wordlevel import UdSentence

PUNCTUATION_RULE = "words whose gold UPOS is PUNCT are not scored"


def universal_relation(deprel: str) -> str:
    return deprel.split(":")[0]


@task(TaskSpec(
    name="dp",
    version="1",
    protocol="ud-biaffine-frozen-en-train-nopunct",
    metrics=("las", "uas", "baseline_las", "baseline_uas"),
    main_metric="las",
    higher_is_better=True,
    granularity=Level.WORD,
    trains_on_source=True,
    dataset="Universal Dependencies (EWT train/dev for English; each language's test + PUD)",
    citation="Dozat & Manning 2017 (biaffine parser); Nivre et al. 2020 (UD)",
    summary="dependency parsing, train English, test every language; UAS/LAS without punctuation",
))
@dataclass(frozen=True)
class DependencyParsing(UdTransferTask):
    train_limit: int = 0
    dev_limit: int = 0
    test_limit: int = 0  # per test file
    epochs: int = 10
    lr: float = 2e-3
    batch_size: int = 32  # sentences
    arc_dim: int = 256
    rel_dim: int = 64  # D&M use 100; the bilinear relation scorer's cost grows with its square
    dropout: float = 0.33

    def head_config(self) -> HeadConfig:
        return HeadConfig(f"biaffine-{self.arc_dim}-{self.rel_dim}", self.epochs, self.lr, self.batch_size,
                          dropout=self.dropout, beta2=0.9)

    def protocol(self, layer: int) -> dict:
        return {"dataset": "UD", "train": f"{PIVOT}/train.conllu", "selection": f"{PIVOT}/dev.conllu (LAS)",
                "test": "each <lang>/*test.conllu", "layer": layer,
                "layer_index": "absolute hidden_states index (0 = embeddings)", "word_representation": WORD_FEATURES_NOTE,
                "head": f"biaffine arcs ({self.arc_dim}) + biaffine relations ({self.rel_dim}), dropout {self.dropout}, "
                        "Adam betas (0.9, 0.9), length-bucketed batches, argmax decoding (no tree constraint)",
                "relations": "universal DEPREL (subtype after ':' removed)", "punctuation": PUNCTUATION_RULE,
                "metric": "LAS x100 (main), UAS x100",
                "limits": {"train": self.train_limit, "dev": self.dev_limit, "test_per_file": self.test_limit}}

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        train = sample(load_ud(source_file(ctx.data_dir, "train")), self.train_limit)
        dev = sample(load_ud(source_file(ctx.data_dir, "dev")), self.dev_limit)
        relations = sorted({universal_relation(r) for s in train for r in s.deprels})
        fit_on = augmented_sentences(ctx.objective, train, ctx.seed)  # the training copies a task-time method asks for
        train_features = word_features(encoder, [s.words for s in fit_on], PIVOT, ctx.layer)
        dev_features = word_features(encoder, [s.words for s in dev], PIVOT, ctx.layer)
        parser, record = self._fit(fit_on, train_features, dev, dev_features, relations, ctx)
        direction, relation = _baseline_rule(train)
        scores = []
        for subset, path in test_subsets(ud_files(ctx.data_dir)[language]).items():
            test = sample(load_ud(path), self.test_limit)
            features = word_features(encoder, [s.words for s in test], language, ctx.layer)
            heads, labels = parse(parser, features.per_sentence(), relations)
            result = _score(test, heads, labels)
            base_heads = [_adjacent_heads(len(s.words), direction) for s in test]
            base_labels = [[relation] * len(s.words) for s in test]
            baseline = _score(test, base_heads, base_labels)
            extra = {**record, "sentences": len(test), "truncated_words": features.truncated_words, "file": path.name}
            scores += [Score("las", result.las, result.scored_words, subset, extra,
                             items=_score_items(test, heads, labels, labelled=True)),
                       Score("uas", result.uas, result.scored_words, subset,
                             items=_score_items(test, heads, labels, labelled=False)),
                       Score("baseline_las", baseline.las, baseline.scored_words, subset,
                             items=_score_items(test, base_heads, base_labels, labelled=True)),
                       Score("baseline_uas", baseline.uas, baseline.scored_words, subset,
                             items=_score_items(test, base_heads, base_labels, labelled=False))]
        return scores

    def _fit(self, train, train_features, dev, dev_features, relations, ctx):
        from tasks._biaffine import BiaffineParser, pad_batch

        index = {r: i for i, r in enumerate(relations)}
        vectors = train_features.per_sentence()
        heads = [np.array(s.heads) for s in train]
        labels = [np.array([index[universal_relation(r)] for r in s.deprels]) for s in train]
        dev_vectors = dev_features.per_sentence()

        def loss_on(module, batch):
            words, mask, gold_heads, gold_labels = pad_batch([vectors[i] for i in batch], [heads[i] for i in batch],
                                                             [labels[i] for i in batch])
            # the parser's scores and loss are one function: the step's "forward" is the identity on the features
            return step_loss(ctx.objective, TrainingStep(words, lambda x: x,
                                                         lambda x: module.loss(x, mask, gold_heads, gold_labels), mask))

        def select(module):
            predicted_heads, predicted_labels = parse(module, dev_vectors, relations)
            return _score(dev, predicted_heads, predicted_labels).las

        def train_parser(module):
            return train_head(module, loss_on, len(train), select, self.head_config(), ctx.seed,
                              batches=length_bucketed_batches([len(s.words) for s in train]))

        config = self.head_config()
        key = content_key(config, ctx.seed, train_features.vectors, [list(s.heads) for s in train],
                          [list(s.deprels) for s in train], dev_features.vectors, [list(s.heads) for s in dev],
                          [list(s.deprels) for s in dev], [list(s.upos) for s in dev], *objective_key(ctx.objective))
        return fit_or_load(HeadStore(ctx.cache_dir), key,
                           lambda: BiaffineParser(train_features.vectors.shape[1], len(relations), self.arc_dim,
                                                  self.rel_dim, self.dropout),
                           train_parser, ctx.seed)


def parse(parser, sentences: list[np.ndarray], relations: list[str], batch: int = 64):
    """Predicted heads (0 = root) and relation names per sentence."""
    from tasks._biaffine import pad_batch

    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out_heads, out_labels = [None] * len(sentences), [None] * len(sentences)
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        words, mask, _, _ = pad_batch([sentences[i] for i in chunk])
        predicted_heads, predicted_labels = parser.decode(words, mask)
        for row, i in enumerate(chunk):
            n = len(sentences[i])
            out_heads[i] = predicted_heads[row, :n].tolist()
            out_labels[i] = [relations[j] for j in predicted_labels[row, :n].tolist()]
    return out_heads, out_labels


def _score(sentences: list[UdSentence], heads, labels):
    return attachment_scores(*_gold_and_excluded(sentences, heads, labels))


def _score_items(sentences: list[UdSentence], heads, labels, labelled: bool):
    return attachment_items(*_gold_and_excluded(sentences, heads, labels), labelled=labelled)


def _gold_and_excluded(sentences: list[UdSentence], heads, labels) -> tuple:
    """(gold heads, gold relations, predicted heads, predicted relations, excluded): punctuation is not scored."""
    return ([s.heads for s in sentences], [[universal_relation(r) for r in s.deprels] for s in sentences],
            heads, labels, [[tag == "PUNCT" for tag in s.upos] for s in sentences])


def _baseline_rule(train: list[UdSentence]) -> tuple[str, str]:
    right = sum(h > i + 1 for s in train for i, h in enumerate(s.heads) if h)
    left = sum(0 < h < i + 1 for s in train for i, h in enumerate(s.heads))
    scored = Counter(universal_relation(r) for s in train for r, tag in zip(s.deprels, s.upos) if tag != "PUNCT")
    relation = scored.most_common(1)[0][0]  # among scored words: "punct" would never count
    return ("right" if right >= left else "left"), relation


def _adjacent_heads(n: int, direction: str) -> list[int]:
    """Each word's head is its neighbour on `direction`; the word at that edge is the root."""
    if direction == "right":
        return [i + 2 if i + 1 < n else 0 for i in range(n)]
    return [i if i > 0 else 0 for i in range(n)]
