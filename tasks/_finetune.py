"""Fine-tune protocol (XTREME style): the whole encoder plus a task head trained on English.

AdamW (lr 2e-5, weight decay 0.01), linear warm-up over the first 10% of steps then linear decay,
checkpoint (epoch) chosen on English dev. Heads: a linear layer on the last layer's first sub-token
of each word (tagging) or on the mean-pooled last layer of the encoded premise/hypothesis pair
(classification; e5 was trained with mean pooling). Runs on a GPU when one is visible, else CPU.

A fine-tuned model is kept in memory for the next cell (the grid runs the languages of one
(method, task, seed) back to back), not on disk: e5-small is 470 MB per copy.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from bench.encoders.base import trainable_model
from bench.specs import Requirement
from bench.tasktime import TrainingStep, objective_key, step_loss
from bench.wordvectors import first_subtokens, join_words

FINETUNE_NOTE = ("whole encoder + linear head, AdamW lr {lr}, weight decay 0.01, warm-up 10% then linear decay, "
                 "{epochs} epochs, batch {batch_size}, max_length {max_length}, best epoch on English dev; last layer")


@dataclass(frozen=True)
class FineTuneConfig:
    epochs: int = 2
    lr: float = 2e-5
    batch_size: int = 16
    max_length: int = 128
    freeze_embeddings: bool = False  # True keeps the 250k x H word-embedding matrix fixed (CPU budget)
    head_lr: float = 0.0  # 0 = same as lr (XTREME); a larger rate lets the new head learn in few steps

    def note(self) -> str:
        frozen = "; word embeddings frozen" if self.freeze_embeddings else ""
        head = f"; head lr {self.head_lr}" if self.head_lr else ""
        return FINETUNE_NOTE.format(**asdict(self)) + frozen + head


PROTOCOLS = ("frozen", "finetune")


@dataclass(frozen=True)
class TransferProtocolParams:
    """Task parameters that choose between the frozen-feature and fine-tune protocols (NER, NLI)."""

    protocol_name: str = "frozen"  # "frozen" or "finetune"
    finetune_epochs: int = 2
    finetune_lr: float = 2e-5
    finetune_freeze_embeddings: bool = False
    finetune_head_lr: float = 0.0  # 0 = finetune_lr

    def __post_init__(self):
        if self.protocol_name not in PROTOCOLS:
            raise ValueError(f"protocol_name must be one of {PROTOCOLS}, got {self.protocol_name!r}")

    def protocol_requirements(self, features: frozenset[Requirement] = frozenset()) -> frozenset[Requirement]:
        """What the frozen protocol's `features` need, plus, for fine-tuning, weights to train (the control
        row, or a method that changes the encoder itself)."""
        if self.protocol_name == "finetune":
            return features | {Requirement.TRAINABLE_WEIGHTS}
        return features

    def finetune_config(self) -> FineTuneConfig:
        return FineTuneConfig(epochs=self.finetune_epochs, lr=self.finetune_lr,
                              freeze_embeddings=self.finetune_freeze_embeddings, head_lr=self.finetune_head_lr)


_MEMO: dict[str, tuple] = {}


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _encoder_with_head(model_dir: Path, n_labels: int, pooled: bool, freeze_embeddings: bool):
    """The encoder plus dropout and a linear head: per token (tagging) or on the mean-pooled pair."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging

    from bench.encoders.transformers_encoder import _is_bert

    class EncoderWithHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            verbosity = logging.get_verbosity()
            logging.set_verbosity_error()
            try:
                extra = {"add_pooling_layer": False} if _is_bert(model_dir) else {}
                self.encoder = AutoModel.from_pretrained(model_dir, **extra)
            finally:
                logging.set_verbosity(verbosity)
            if freeze_embeddings:
                self.encoder.get_input_embeddings().weight.requires_grad_(False)
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, n_labels)

        def forward(self, input_ids, attention_mask, inputs_embeds=None):
            """Logits from token ids, or from input word embeddings (`inputs_embeds`; ids are then ignored)."""
            tokens = {"input_ids": input_ids} if inputs_embeds is None else {"inputs_embeds": inputs_embeds}
            states = self.encoder(**tokens, attention_mask=attention_mask).last_hidden_state
            if pooled:
                mask = attention_mask.unsqueeze(-1).to(states.dtype)
                states = (states * mask).sum(1) / mask.sum(1)
            return self.head(self.dropout(states))

    return EncoderWithHead()


def _tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


# --- batches ---------------------------------------------------------------------------------

def tag_batch(tokenizer, sentences: Sequence[Sequence[str]], max_length: int, labels=None):
    """Tokenised sentences plus, per sentence, the first-sub-token index of each word (-1 if cut off)."""
    import torch

    joined = [join_words(tuple(words)) for words in sentences]
    encoded = tokenizer([text for text, _ in joined], truncation=True, max_length=max_length, padding=True,
                        return_offsets_mapping=True, return_tensors="np")
    firsts = [first_subtokens(encoded["offset_mapping"][i], spans) for i, (_, spans) in enumerate(joined)]
    target = None
    if labels is not None:
        target = np.full(encoded["input_ids"].shape, -100, dtype=np.int64)
        for i, (first, tags) in enumerate(zip(firsts, labels)):
            keep = first >= 0
            target[i, first[keep]] = np.asarray(tags)[keep]
        target = torch.from_numpy(target)
    return torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"]), firsts, target


def pair_batch(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int):
    import torch

    encoded = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=max_length,
                        padding=True, return_tensors="np")
    return torch.from_numpy(encoded["input_ids"]), torch.from_numpy(encoded["attention_mask"])


# --- training --------------------------------------------------------------------------------

def _train(module, n_items: int, loss_on: Callable, select: Callable, config: FineTuneConfig, seed: int) -> dict:
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps_per_epoch = max(1, math.ceil(n_items / config.batch_size))
    trainable = [p for p in module.parameters() if p.requires_grad]
    head = [p for p in module.head.parameters()]
    body = [p for p in trainable if all(p is not h for h in head)]
    optimizer = torch.optim.AdamW([{"params": body, "lr": config.lr},
                                   {"params": head, "lr": config.head_lr or config.lr}], weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps_per_epoch * config.epochs),
                                               steps_per_epoch * config.epochs)
    best, best_state, best_epoch, start = -math.inf, None, 0, time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        module.train()
        for batch in np.array_split(rng.permutation(n_items), steps_per_epoch):
            optimizer.zero_grad()
            loss = loss_on(module, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fine-tuning: non-finite loss at epoch {epoch}")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
        module.eval()
        score = float(select(module))
        if score > best:
            best, best_epoch = score, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    module.load_state_dict(best_state)
    module.eval()
    return {"best_epoch": best_epoch, "epochs": config.epochs, "dev_score": round(best, 4),
            "train_seconds": round(time.perf_counter() - start, 1), "device": str(_device())}


def _memoised(key: str, build: Callable):
    if key not in _MEMO:
        _MEMO.clear()  # keep one fine-tuned model in memory
        _MEMO[key] = build()
    return _MEMO[key]


def training_step(module, ids, mask, loss_of: Callable) -> TrainingStep:
    """A fine-tuning mini-batch for `step_loss`: the inputs are the batch's input word embeddings."""
    return TrainingStep(module.encoder.get_input_embeddings()(ids), lambda embeds: module(ids, mask, embeds),
                        loss_of, mask, module)


def finetuned_tagger(encoder, train_words, train_tags, dev_words, dev_tags, labels: list[str],
                     select_metric: Callable, config: FineTuneConfig, seed: int, objective=None):
    """(predict(words) -> tag lists, record); the model is trained once per content key. `objective`: a
    task-time method's loss (bench/tasktime.py), or None for the plain task loss."""
    import torch

    model_dir, fingerprint = trainable_model(encoder)
    index = {tag: i for i, tag in enumerate(labels)}
    key = _key("tagger", fingerprint, labels, train_words, train_tags, dev_words, dev_tags, asdict(config), seed,
               *objective_key(objective))

    def predict_with(module, tokenizer, sentences):
        out = []
        with torch.inference_mode():
            for start in range(0, len(sentences), 64):
                chunk = sentences[start:start + 64]
                ids, mask, firsts, _ = tag_batch(tokenizer, chunk, config.max_length)
                logits = module(ids.to(_device()), mask.to(_device())).argmax(-1).cpu().numpy()
                for row, first in enumerate(firsts):
                    out.append([labels[logits[row, j]] if j >= 0 else "O" for j in first])
        return out

    def build():
        torch.manual_seed(seed)
        tokenizer = _tokenizer(model_dir)
        module = _encoder_with_head(model_dir, len(labels), False, config.freeze_embeddings).to(_device())
        targets = [[index[t] for t in tags] for tags in train_tags]

        def loss_on(module, batch):
            ids, mask, _, target = tag_batch(tokenizer, [train_words[i] for i in batch], config.max_length,
                                             [targets[i] for i in batch])
            target = target.to(_device())
            return step_loss(objective, training_step(module, ids.to(_device()), mask.to(_device()), lambda logits: (
                torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100))))

        record = _train(module, len(train_words), loss_on,
                        lambda m: select_metric(dev_tags, predict_with(m, tokenizer, dev_words)), config, seed)
        return module, tokenizer, record

    module, tokenizer, record = _memoised(key, build)
    return (lambda sentences: predict_with(module, tokenizer, list(sentences))), {**record, "model_key": key}


def finetuned_pair_classifier(encoder, train_pairs, train_labels, dev_pairs, dev_labels, labels: list[str],
                              config: FineTuneConfig, seed: int, objective=None):
    import torch

    model_dir, fingerprint = trainable_model(encoder)
    index = {label: i for i, label in enumerate(labels)}
    key = _key("pair", fingerprint, labels, train_pairs, train_labels, dev_pairs, dev_labels, asdict(config), seed,
               *objective_key(objective))

    def predict_with(module, tokenizer, pairs):
        out = []
        with torch.inference_mode():
            for start in range(0, len(pairs), 64):
                ids, mask = pair_batch(tokenizer, pairs[start:start + 64], config.max_length)
                out += [labels[i] for i in module(ids.to(_device()), mask.to(_device())).argmax(-1).cpu().tolist()]
        return out

    def build():
        torch.manual_seed(seed)
        tokenizer = _tokenizer(model_dir)
        module = _encoder_with_head(model_dir, len(labels), True, config.freeze_embeddings).to(_device())
        target = torch.tensor([index[label] for label in train_labels])

        def loss_on(module, batch):
            ids, mask = pair_batch(tokenizer, [train_pairs[i] for i in batch], config.max_length)
            gold = target[batch].to(_device())
            return step_loss(objective, training_step(module, ids.to(_device()), mask.to(_device()),
                                                      lambda logits: torch.nn.functional.cross_entropy(logits, gold)))

        def select(module):
            return float(np.mean(np.array(predict_with(module, tokenizer, dev_pairs)) == np.array(dev_labels)))

        record = _train(module, len(train_pairs), loss_on, select, config, seed)
        return module, tokenizer, record

    module, tokenizer, record = _memoised(key, build)
    return (lambda pairs: predict_with(module, tokenizer, list(pairs))), {**record, "model_key": key}
