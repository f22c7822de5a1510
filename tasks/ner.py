"""Zero-shot cross-lingual NER: PAN-X/WikiANN (XTREME split) plus CoNLL-2002 as a second test set.

Train on `ner/panx/en/train.tsv`; English dev is split in two (even lines of the sampled dev for
model selection, odd for the English in-language score); every other language is tested on its
PAN-X dev file, since PAN-X test labels are not public. Languages with CoNLL-2002 data
(`ner/conll2002/<lang>/*.testb`) are also tested there; entity types PAN-X lacks (MISC) are
removed from that gold standard. Metric: entity-level F1, seqeval strict IOB2. Baseline: each
word's most frequent English-training tag (exact form), otherwise O.

Protocols: `frozen` (default: linear probe on first-sub-token vectors of layer L, no CRF) or
`finetune` (the encoder itself, see tasks/_finetune.py; only for methods that leave the
encoder's weights reachable).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import PIVOT, language_of
from bench.metrics import entity_f1, entity_f1_items
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._common import subdir
from tasks._finetune import TransferProtocolParams, finetuned_tagger
from bench.tasktime import TrainingStep, augmented_sentences, objective_key, step_loss
from tasks._transfer import HeadConfig, HeadStore, content_key, fit_or_load, most_frequent_tag_per_word, predict_in_batches, sample, tagger_module, train_head
from bench.wordvectors import WORD_FEATURES_NOTE, word_features, word_spec
from tasks._wordlevel import TaggedSentence, read_tagged_columns



@functools.cache
def panx_files(data_dir: Path) -> dict[str, Path]:
    """Language -> folder of `ner/panx/<lang>/` with train.tsv and/or dev.tsv."""
    root = subdir(data_dir, "ner") / "panx"
    if not root.is_dir():
        return {}
    return {language_of(p.name, p): p for p in sorted(root.iterdir()) if (p / "dev.tsv").is_file()}


@functools.cache
def conll2002_files(data_dir: Path) -> dict[str, Path]:
    root = Path(data_dir) / "ner" / "conll2002"
    found = {}
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        tests = sorted(folder.glob("*.testb"))
        if tests:
            found[language_of(folder.name, folder)] = tests[0]
    return found


PANX_TYPES = frozenset({"PER", "ORG", "LOC"})  # WikiANN's entity types
CONLL2002_TYPES = PANX_TYPES | {"MISC"}


@functools.lru_cache(maxsize=32)
def load_panx(path: Path) -> tuple[TaggedSentence, ...]:
    return tuple(read_tagged_columns(path, types=PANX_TYPES))


@functools.lru_cache(maxsize=8)
def load_conll2002(path: Path, keep_types: frozenset[str]) -> tuple[TaggedSentence, ...]:
    """CoNLL-2002 (`token POS tag`), with entity types outside `keep_types` turned into O."""
    sentences = read_tagged_columns(path, separator=" ", types=CONLL2002_TYPES)
    return tuple(TaggedSentence(s.words, tuple(t if t == "O" or t[2:] in keep_types else "O" for t in s.tags))
                 for s in sentences)


@task(TaskSpec(
    name="ner",
    version="2",
    protocol="panx-entity-f1-strict-iob2-en-train",
    metrics=("f1", "baseline_f1"),
    main_metric="f1",
    higher_is_better=True,
    granularity=Level.WORD,
    trains_on_source=True,
    dataset="WikiANN/PAN-X (XTREME split; dev used as test) and CoNLL-2002",
    citation="Pan et al. 2017 (WikiANN); Tjong Kim Sang 2002 (CoNLL-2002); Hu et al. 2020 (XTREME)",
    summary="named entities, train English PAN-X, test every language",
))
@dataclass(frozen=True)
class NamedEntities(TransferProtocolParams):
    train_limit: int = 0
    dev_limit: int = 0  # English dev, before it is split into selection and in-language test
    test_limit: int = 0  # per test file
    epochs: int = 15  # frozen head; the fine-tune protocol uses finetune_epochs
    lr: float = 1e-3
    batch_size: int = 256

    def languages(self, data_dir: Path) -> list[str]:
        """Every language with a PAN-X dev file or a CoNLL-2002 test file."""
        return sorted(set(panx_files(data_dir)) | set(conll2002_files(data_dir)))

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        panx = panx_files(data_dir)
        files = [panx[PIVOT] / name for name in ("train.tsv", "dev.tsv")] if PIVOT in panx else []
        if language in panx and language != PIVOT:
            files.append(panx[language] / "dev.tsv")
        if language in conll2002_files(data_dir):
            files.append(conll2002_files(data_dir)[language])
        return files

    def requirements(self) -> frozenset[Requirement]:
        return self.protocol_requirements(frozenset({Requirement.TOKEN_STATES}))

    def protocol(self, layer: int) -> dict:
        common = {"id": f"panx-entity-f1-strict-iob2-en-train-{self.protocol_name}", "protocol": self.protocol_name,
                  "dataset": "PAN-X (XTREME split), CoNLL-2002 testb", "train": f"panx/{PIVOT}/train.tsv",
                  "selection": f"even sentences of the sampled panx/{PIVOT}/dev.tsv (entity F1)",
                  "test": f"panx/<lang>/dev.tsv (odd sentences for {PIVOT}); conll2002/<lang>/*.testb with MISC removed",
                  "metric": "entity F1 x100, seqeval strict IOB2",
                  "limits": {"train": self.train_limit, "dev": self.dev_limit, "test_per_file": self.test_limit}}
        if self.protocol_name == "finetune":
            return {**common, "layer": "last (fine-tuned)", "model": self.finetune_config().note(),
                    "word_representation": "first sub-token"}
        return {**common, "layer": layer, "layer_index": "absolute hidden_states index (0 = embeddings)",
                "word_representation": WORD_FEATURES_NOTE, "head": "linear probe (dropout 0.1), no CRF, best epoch on dev"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for lang, folder in panx_files(data_dir).items():
            texts.setdefault(lang, set()).update(" ".join(s.words) for s in load_panx(folder / "dev.tsv"))
        for lang, path in conll2002_files(data_dir).items():
            texts.setdefault(lang, set()).update(" ".join(s.words) for s in read_tagged_columns(path, separator=" ", types=CONLL2002_TYPES))
        return texts

    def _english(self, data_dir: Path):
        folder = panx_files(data_dir).get(PIVOT)
        if folder is None or not (folder / "train.tsv").is_file():
            raise FileNotFoundError(f"{Path(data_dir) / 'ner' / 'panx' / PIVOT}: train.tsv and dev.tsv needed (the source)")
        train = sample(load_panx(folder / "train.tsv"), self.train_limit)
        dev = sample(load_panx(folder / "dev.tsv"), self.dev_limit)
        return train, dev[0::2], dev[1::2]

    def test_sets(self, data_dir: Path, language: str, english_test, labels) -> dict[str, list[TaggedSentence]]:
        if language == PIVOT:
            sets = {"panx-dev-heldout": english_test}
        elif language in panx_files(data_dir):
            sets = {"panx-dev": sample(load_panx(panx_files(data_dir)[language] / "dev.tsv"), self.test_limit)}
        else:
            sets = {}  # a language with CoNLL-2002 files only
        if language in conll2002_files(data_dir):
            types = frozenset(t[2:] for t in labels if t != "O")
            sets["conll2002-testb"] = sample(load_conll2002(conll2002_files(data_dir)[language], types), self.test_limit)
        return sets

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        train, select, english_test = self._english(ctx.data_dir)
        labels = sorted({t for s in train for t in s.tags})
        fit_on = augmented_sentences(ctx.objective, train, ctx.seed)  # the training copies a task-time method asks for
        if self.protocol_name == "finetune":
            tag, record = finetuned_tagger(encoder, [s.words for s in fit_on], [s.tags for s in fit_on],
                                           [s.words for s in select], [list(s.tags) for s in select], labels,
                                           entity_f1, self.finetune_config(), ctx.seed, ctx.objective)

            def predict(sentences, lang):
                return tag(sentences)
        else:
            predict, record = self._frozen(encoder, fit_on, select, labels, ctx)
        lexicon = most_frequent_tag_per_word((w, t) for s in train for w, t in zip(s.words, s.tags))
        scores = []
        for subset, sentences in self.test_sets(ctx.data_dir, language, english_test, labels).items():
            gold = [list(s.tags) for s in sentences]
            predicted = predict([s.words for s in sentences], language)
            baseline = [[lexicon.get(w, "O") for w in s.words] for s in sentences]
            words = sum(len(g) for g in gold)
            scores += [Score("f1", entity_f1(gold, predicted), words, subset, {**record, "sentences": len(sentences)},
                             items=entity_f1_items(gold, predicted)),
                       Score("baseline_f1", entity_f1(gold, baseline), words, subset, items=entity_f1_items(gold, baseline))]
        return scores

    def _frozen(self, encoder, train, select, labels, ctx):
        import torch

        index = {t: i for i, t in enumerate(labels)}
        X = word_features(encoder, [s.words for s in train], PIVOT, ctx.layer).vectors
        y = np.array([index[t] for s in train for t in s.tags])
        dev = word_features(encoder, [s.words for s in select], PIVOT, ctx.layer)
        dev_gold = [list(s.tags) for s in select]
        config = HeadConfig("linear-tagger", self.epochs, self.lr, self.batch_size, dropout=0.1)

        def tags_of(module, features):
            flat = predict_in_batches(module, features.vectors)
            return [[labels[i] for i in part] for part in np.split(flat, np.cumsum(features.lengths)[:-1])]

        def loss_on(module, batch):
            target = torch.from_numpy(y[batch])
            return step_loss(ctx.objective, TrainingStep(torch.from_numpy(X[batch]), module,
                                                         lambda logits: torch.nn.functional.cross_entropy(logits, target)))

        key = content_key(config, ctx.seed, X, y, dev.vectors, dev_gold, *objective_key(ctx.objective))
        head, record = fit_or_load(
            HeadStore(ctx.cache_dir), key, lambda: tagger_module(X.shape[1], len(labels), config.dropout),
            lambda module: train_head(module, loss_on, len(X), lambda m: entity_f1(dev_gold, tags_of(m, dev)), config,
                                      ctx.seed), ctx.seed)

        def predict(sentences, lang):
            return tags_of(head, word_features(encoder, sentences, lang, ctx.layer))

        return predict, record

