"""Robust training: train the task model on English so that it tolerates perturbed inputs, in the hope
that another language's representations fall inside the region it has learnt to tolerate.

Huang, Ahmad, Peng & Chang (2021), "Improving Zero-Shot Cross-Lingual Transfer Learning via Robust
Training", EMNLP. A task-time method (bench/tasktime.py): the encoder is not aligned; the transfer task's
model is trained under this loss, in the frozen protocol (the perturbation acts on the head's frozen
features) and in the fine-tune protocol (on the encoder's input word embeddings).

What we could and could not recover (the paper's method section was not readable here; the authors'
code, uclanlp/Robust-XLT, implements only the data-augmentation variant, which is not this file's yet):
- `strategy = "random-perturbation"` (the paper's randomized smoothing with random perturbation): the
  loss is averaged over `samples` (3) draws of noise added to the inputs. The noise law, its scale and
  the layer are ours: uniform per coordinate in [-r, r] with r = `radius` x the root mean square of
  each vector (token or feature) itself, so one radius means the same on features and embeddings.
- `strategy = "adversarial"` (the paper cites Madry et al. 2018): PGD in an l2 ball of radius
  `radius` x ||x|| around each input vector, `steps` (3) ascent steps of size 2.5 x radius / steps
  (Madry et al.'s rule) from a random start, then the task loss at the perturbed inputs (no clean term:
  Madry's min-max). Attack type, epsilon, steps and loss mix are ours.
Prediction is on clean inputs, as in the authors' code. Noise comes from torch's generator, which the
task seeds with the cell's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.registry import method
from bench.specs import Category, Level, MethodSpec, Mode, Signal, WordAlignmentSource
from bench.tasktime import TrainingStep

STRATEGIES = ("random-perturbation", "adversarial")


def _row_scale(inputs, norm: str):
    """Per-vector size over the last axis: root mean square ("rms") or l2 norm ("l2"), detached."""
    import torch

    size = inputs.detach().pow(2).mean(-1, keepdim=True).sqrt() if norm == "rms" else \
        torch.linalg.vector_norm(inputs.detach(), dim=-1, keepdim=True)
    return size


def _project(delta, bound):
    import torch

    norm = torch.linalg.vector_norm(delta, dim=-1, keepdim=True).clamp_min(1e-12)
    return delta * torch.clamp(bound / norm, max=1.0)


@method(MethodSpec(
    name="robust-training",
    category=Category.D,
    version="1",
    citation="Huang, Ahmad, Peng & Chang 2021 (EMNLP)",
    mode=Mode.TASK_TIME,
    signal=Signal.NONE,
    word_alignment=WordAlignmentSource.NOT_APPLICABLE,
    level=Level.SENTENCE,
    summary="train the English task model to tolerate random or adversarial perturbations of its inputs",
    task_protocols=frozenset({"frozen", "finetune"}),
))
@dataclass(frozen=True)
class RobustTraining:
    strategy: str = "random-perturbation"
    radius: float = 0.1  # relative to each input vector's size (rms for noise, l2 norm for the PGD ball)
    samples: int = 3  # random-perturbation: noise draws averaged
    steps: int = 3  # adversarial: PGD steps

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"robust-training: strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.radius <= 0 or self.samples < 1 or self.steps < 1:
            raise ValueError("robust-training: radius must be > 0, samples and steps >= 1")

    def needs(self) -> tuple:
        return ()

    def augment(self, words: tuple[str, ...], rng) -> tuple[tuple[str, ...], ...]:
        return (words,)  # both strategies perturb vectors, not words

    def loss(self, step: TrainingStep):
        import torch

        inputs = step.inputs
        if self.strategy == "random-perturbation":
            radius = self.radius * _row_scale(inputs, "rms")
            losses = [step.loss_of(step.forward(inputs + radius * (2 * torch.rand_like(inputs) - 1)))
                      for _ in range(self.samples)]
            return torch.stack(losses).mean()
        bound = self.radius * _row_scale(inputs, "l2")
        size = 2.5 * bound / self.steps
        delta = _project(torch.randn_like(inputs), bound * torch.rand(bound.shape, device=inputs.device))
        for _ in range(self.steps):
            delta.requires_grad_(True)
            ascent = step.loss_of(step.forward(inputs.detach() + delta))
            (grad,) = torch.autograd.grad(ascent, delta)
            grad_norm = torch.linalg.vector_norm(grad, dim=-1, keepdim=True).clamp_min(1e-12)
            delta = _project(delta.detach() + size * grad / grad_norm, bound)
        return step.loss_of(step.forward(inputs + delta.detach()))
