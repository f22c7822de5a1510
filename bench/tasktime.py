"""Task-time methods (category d methods that act while the task model is trained): their contract.

A **task-time method** has `mode = Mode.TASK_TIME`. It fits nothing before a task runs and leaves the
encoder as it is (its rows are evaluated on the grid's encoder, like `original`); it changes how a
transfer task trains its model on the source language. Robust training (Huang et al. 2021) and EAR
(Ding et al. 2022) are of this kind. The contract:

- `needs()`: the resources it asks for beyond the task's own English data (`AnchorRequest`s, usually none),
  and `fit(data: bench.finetune.TrainingData) -> self`: the runner reads them, guarded, for every language
  the data has them for, once per run, before any task (a method that needs nothing returns self).
- `augment(words, rng) -> copies`: the word sequences to train on in place of one English training text
  (its words split on single spaces, as Huang et al.'s augmentation does): one or more copies, each as
  long as `words` so that word-level labels stay aligned; `(words,)` for no augmentation. Selection
  (dev) data is never augmented.
- `loss(step: TrainingStep) -> scalar tensor`: the training loss of one mini-batch, computed from the
  batch's inputs, the model's forward function and the task's loss. `TrainingStep` is all a method sees.
- the spec's `task_protocols` says where the method acts: `"frozen"` (a head trained on frozen
  features: `step.inputs` are the batch's features) and/or `"finetune"` (the encoder fine-tuned with its
  head: `step.inputs` are the input word embeddings, `step.model` the module being trained).

The runner puts an instance in `TaskContext.objective`; a task whose spec has `trains_on_source`
routes every training step through `step_loss`, and adds `objective_key(objective)` to the content key
of what it trains, so a robustly trained head is never confused with a plain one. Planning marks the
cells of other tasks and protocols as not applicable. Randomness inside `loss` must come from torch's
global generator, which the task seeds with the cell's seed before training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

TASK_PROTOCOLS = ("frozen", "finetune")


@dataclass(frozen=True)
class TrainingStep:
    """One training mini-batch as a task-time method sees it.

    `inputs`: frozen features [batch, dim] (frozen protocol) or input word embeddings [batch, tokens, hidden]
    (fine-tune protocol, position embeddings are added inside the model); `forward(inputs) -> logits`;
    `loss_of(logits) -> mean task loss`; `mask`: [batch, tokens] padding mask of token inputs, else None;
    `model`: the module being trained in the fine-tune protocol (its `encoder` is a transformers model,
    for methods that need hidden states or attentions: `model.encoder(inputs_embeds=..., attention_mask=...,
    output_attentions=True)`), else None."""

    inputs: Any
    forward: Callable
    loss_of: Callable
    mask: Any = None
    model: Any = None


@runtime_checkable
class TrainingObjective(Protocol):
    def needs(self) -> tuple: ...

    def fit(self, data: Any) -> "TrainingObjective": ...

    def augment(self, words: tuple[str, ...], rng: np.random.Generator) -> tuple[tuple[str, ...], ...]: ...

    def loss(self, step: TrainingStep) -> Any: ...


def _copies(objective: TrainingObjective, words: tuple[str, ...], rng: np.random.Generator) -> tuple[tuple[str, ...], ...]:
    copies = tuple(tuple(copy) for copy in objective.augment(tuple(words), rng))
    if not copies or any(len(copy) != len(words) for copy in copies):
        raise ValueError(f"{type(objective).__name__}.augment must return one or more copies as long as its input "
                         f"({len(words)} words), got lengths {[len(c) for c in copies]}")
    return copies


def augmented_sentences(objective: TrainingObjective | None, sentences: Sequence, seed: int) -> list:
    """English training sentences (dataclasses with a `words` tuple; tags, heads... stay as they are) with
    each one replaced by the copies the task-time method trains on; unchanged without a method."""
    if objective is None:
        return list(sentences)
    rng = np.random.default_rng(seed)
    return [dataclasses.replace(s, words=copy) for s in sentences for copy in _copies(objective, s.words, rng)]


def augmented_pairs(objective: TrainingObjective | None, pairs: Sequence[tuple[str, str]], labels: Sequence,
                    seed: int) -> tuple[list[tuple[str, str]], list]:
    """Sentence-pair training items (premise, hypothesis) and their labels, each pair replaced by its
    copies (both texts augmented independently, the label kept); unchanged without a method."""
    if objective is None:
        return list(pairs), list(labels)
    rng = np.random.default_rng(seed)
    out_pairs, out_labels = [], []
    for (first, second), label in zip(pairs, labels):
        a, b = _copies(objective, tuple(first.split(" ")), rng), _copies(objective, tuple(second.split(" ")), rng)
        if len(a) != len(b):
            raise ValueError(f"{type(objective).__name__}.augment returned {len(a)} and {len(b)} copies for one pair")
        out_pairs += [(" ".join(x), " ".join(y)) for x, y in zip(a, b)]
        out_labels += [label] * len(a)
    return out_pairs, out_labels


def step_loss(objective: TrainingObjective | None, step: TrainingStep):
    """The loss of one training step: the task's plain loss without a task-time method."""
    import torch

    if objective is None:
        return step.loss_of(step.forward(step.inputs))
    loss = objective.loss(step)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError(f"{type(objective).__name__}.loss must return a scalar tensor, got {loss!r:.80}")
    return loss


def objective_key(objective: TrainingObjective | None) -> tuple:
    """What to add to the content key of a model trained under `objective` (nothing without one, so plain
    heads keep their keys): the method's class, parameters and code."""
    if objective is None:
        return ()
    from bench.provenance import class_source_digest

    return ({"objective": type(objective).__name__, "params": asdict(objective), "code": class_source_digest(type(objective))},)
