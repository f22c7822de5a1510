"""Zero-shot cross-lingual POS tagging on Universal Dependencies (UPOS), frozen-feature protocol.

Train a linear probe on English EWT train (first sub-token of each word, layer L), choose the epoch
on EWT dev accuracy, test every language on each of its test files (its own treebank's test and
PUD). Main metric: UPOS token accuracy. Also reported, under its own name: the XTREME variant
(seqeval F1 over raw UPOS tags). Baseline: each word's most frequent English-training tag
(lower-cased form), otherwise the overall most frequent tag.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import PIVOT
from bench.metrics import token_accuracy, token_accuracy_items, xtreme_tag_f1
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.tasktime import TrainingStep, augmented_sentences, objective_key, step_loss
from tasks._transfer import HeadConfig, HeadStore, content_key, fit_or_load, most_frequent, most_frequent_tag_per_word, predict_in_batches, sample, tagger_module, train_head
from bench.wordvectors import WORD_FEATURES_NOTE, word_features
from tasks._ud import UdTransferTask, load_ud, source_file, test_subsets, ud_files


@task(TaskSpec(
    name="pos",
    version="2",
    protocol="ud-upos-frozen-linear-probe-en-train",
    metrics=("upos_accuracy", "upos_xtreme_seqeval_f1", "baseline_upos_accuracy"),
    main_metric="upos_accuracy",
    higher_is_better=True,
    granularity=Level.WORD,
    trains_on_source=True,
    dataset="Universal Dependencies (EWT train/dev for English; each language's test + PUD)",
    citation="Nivre et al. 2020 (UD); Hu et al. 2020 (XTREME)",
    summary="UPOS tagging, train English, test every language",
))
@dataclass(frozen=True)
class PosTagging(UdTransferTask):
    train_limit: int = 0  # 0 = all sentences
    dev_limit: int = 0
    test_limit: int = 0  # per test file
    epochs: int = 15
    lr: float = 1e-3
    batch_size: int = 256

    def head_config(self) -> HeadConfig:
        return HeadConfig("linear-tagger", self.epochs, self.lr, self.batch_size, dropout=0.1)

    def protocol(self, layer: int) -> dict:
        return {"dataset": "UD", "train": f"{PIVOT}/train.conllu", "selection": f"{PIVOT}/dev.conllu (accuracy)",
                "test": "each <lang>/*test.conllu", "layer": layer,
                "layer_index": "absolute hidden_states index (0 = embeddings)", "word_representation": WORD_FEATURES_NOTE,
                "head": "linear probe (dropout 0.1), Adam, best epoch on English dev", "metric": "UPOS token accuracy x100",
                "second_metric": "XTREME variant: seqeval default-mode F1 on raw UPOS tags",
                "limits": {"train": self.train_limit, "dev": self.dev_limit, "test_per_file": self.test_limit},
                "sampling": "fixed-seed sample, same items for every method and seed"}

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        train = sample(load_ud(source_file(ctx.data_dir, "train")), self.train_limit)
        dev = sample(load_ud(source_file(ctx.data_dir, "dev")), self.dev_limit)
        labels = sorted({tag for s in train for tag in s.upos})
        index = {tag: i for i, tag in enumerate(labels)}
        fit_on = augmented_sentences(ctx.objective, train, ctx.seed)  # the training copies a task-time method asks for
        X = word_features(encoder, [s.words for s in fit_on], PIVOT, ctx.layer).vectors
        y = np.array([index[t] for s in fit_on for t in s.upos])
        X_dev = word_features(encoder, [s.words for s in dev], PIVOT, ctx.layer).vectors
        y_dev = np.array([index.get(t, -1) for s in dev for t in s.upos])
        head, record = _fit_tagger(X, y, X_dev, y_dev, len(labels), self.head_config(), ctx)
        lexicon = most_frequent_tag_per_word((w.lower(), t) for s in train for w, t in zip(s.words, s.upos))
        fallback = most_frequent([t for s in train for t in s.upos])
        scores = []
        for subset, path in test_subsets(ud_files(ctx.data_dir)[language]).items():
            test = sample(load_ud(path), self.test_limit)
            features = word_features(encoder, [s.words for s in test], language, ctx.layer)
            flat = predict_in_batches(head, features.vectors)
            predicted = [[labels[i] for i in part] for part in np.split(flat, np.cumsum(features.lengths)[:-1])]
            gold = [list(s.upos) for s in test]
            baseline = [[lexicon.get(w.lower(), fallback) for w in s.words] for s in test]
            extra = {**record, "sentences": len(test), "truncated_words": features.truncated_words, "file": path.name}
            words = int(features.lengths.sum())
            scores += [Score("upos_accuracy", token_accuracy(gold, predicted), words, subset, extra,
                             items=token_accuracy_items(gold, predicted)),
                       Score("upos_xtreme_seqeval_f1", xtreme_tag_f1(gold, predicted), words, subset),
                       Score("baseline_upos_accuracy", token_accuracy(gold, baseline), words, subset,
                             items=token_accuracy_items(gold, baseline))]
        return scores


def _fit_tagger(X, y, X_dev, y_dev, n_labels: int, config: HeadConfig, ctx: TaskContext):
    import torch

    def loss_on(module, batch):
        target = torch.from_numpy(y[batch])
        return step_loss(ctx.objective, TrainingStep(torch.from_numpy(X[batch]), module,
                                                     lambda logits: torch.nn.functional.cross_entropy(logits, target)))

    def select(module):
        return float((predict_in_batches(module, X_dev) == y_dev).mean())

    key = content_key(config, ctx.seed, X, y, X_dev, y_dev, *objective_key(ctx.objective))
    return fit_or_load(HeadStore(ctx.cache_dir), key, lambda: tagger_module(X.shape[1], n_labels, config.dropout),
                       lambda module: train_head(module, loss_on, len(X), select, config, ctx.seed), ctx.seed)

