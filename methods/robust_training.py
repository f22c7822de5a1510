"""Robust training: train the task model on English so that it tolerates perturbed inputs, in the hope
that another language's representations fall inside the region it has learnt to tolerate.

Huang, Ahmad, Peng & Chang (2021), "Improving Zero-Shot Cross-Lingual Transfer Learning via Robust
Training", EMNLP. A task-time method (bench/tasktime.py): the encoder is not aligned; the transfer task's
model is trained under this loss, in the frozen protocol (the perturbation acts on the head's frozen
features) and in the fine-tune protocol (on the encoder's input word embeddings).

What we could and could not recover (the paper's method section was not readable here; the authors'
code, uclanlp/Robust-XLT, Apache-2.0, implements only the data-augmentation variant; read, not copied):
- `strategy = "synonym-augmentation"` (randomized smoothing with data augmentation, as in the authors'
  code): every English training text is replaced by `copies` (3, their XNLI setting) perturbed copies,
  the clean text not kept; in each copy every space-separated word with synonyms is replaced by a
  uniform draw from itself and its synonyms, independently (case-sensitive, as theirs); selection and
  test data are clean. Deviation: their synonyms are Jia et al.'s (2019) counter-fitted neighbours,
  which the data root lacks; ours are *pivot synonyms* from the MUSE dictionaries (test words
  excluded): English words that share a translation in at least `min_languages` (3) languages' xx-en
  dictionaries, at most 8 per word, most-shared first. They include inflections (house: houses).
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

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.alignment import MissingResourceError
from bench.registry import method
from bench.specs import AnchorRequest, Category, Level, MethodSpec, Mode, Resource, Signal, WordAlignmentSource
from bench.tasktime import TrainingStep

STRATEGIES = ("random-perturbation", "adversarial", "synonym-augmentation")
MAX_SYNONYMS = 8  # Jia et al.'s neighbour lists hold at most 8


def pivot_synonyms(dictionary: dict[str, tuple[tuple[str, str], ...]], min_languages: int) -> dict[str, tuple[str, ...]]:
    """English word -> the English words sharing one of its translations in at least `min_languages` of the
    (word, English word) dictionaries, most-shared first (ties alphabetical), at most MAX_SYNONYMS."""
    shared: dict[str, Counter] = defaultdict(Counter)
    for pairs in dictionary.values():
        english_of: dict[str, set[str]] = defaultdict(set)
        for word, english in pairs:
            english_of[word].add(english)
        neighbours: dict[str, set[str]] = defaultdict(set)
        for group in english_of.values():
            for english in group:
                neighbours[english] |= group - {english}
        for english, others in neighbours.items():
            shared[english].update(others)
    table = {}
    for english, counts in shared.items():
        ranked = sorted((v for v, c in counts.items() if c >= min_languages), key=lambda v: (-counts[v], v))
        if ranked:
            table[english] = tuple(ranked[:MAX_SYNONYMS])
    return table


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
    summary="train the English task model to tolerate random, adversarial or synonym perturbations of its inputs",
    supervision=frozenset({Resource.BILINGUAL_LEXICON}),  # synonym-augmentation's pivot synonyms
    task_protocols=frozenset({"frozen", "finetune"}),
))
@dataclass
class RobustTraining:
    strategy: str = "random-perturbation"
    radius: float = 0.1  # relative to each input vector's size (rms for noise, l2 norm for the PGD ball)
    samples: int = 3  # random-perturbation: noise draws averaged
    steps: int = 3  # adversarial: PGD steps
    copies: int = 3  # synonym-augmentation: perturbed copies per training text (the authors' XNLI setting)
    min_languages: int = 3  # synonym-augmentation: dictionaries that must agree on a pivot synonym
    synonyms_: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(f"robust-training: strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.radius <= 0 or min(self.samples, self.steps, self.copies, self.min_languages) < 1:
            raise ValueError("robust-training: radius must be > 0; samples, steps, copies, min_languages >= 1")

    def needs(self) -> tuple:
        if self.strategy == "synonym-augmentation":
            return (AnchorRequest(Resource.BILINGUAL_LEXICON, budget=10**7),)  # every dictionary entry
        return ()

    def fit(self, data) -> "RobustTraining":
        if self.strategy == "synonym-augmentation":
            if not data.dictionary:
                raise MissingResourceError("robust-training (synonym-augmentation) needs bilingual dictionaries")
            self.synonyms_ = pivot_synonyms(data.dictionary, self.min_languages)
        return self

    def augment(self, words: tuple[str, ...], rng) -> tuple[tuple[str, ...], ...]:
        if self.strategy != "synonym-augmentation":
            return (words,)  # these strategies perturb vectors, not words

        def draw(word: str) -> str:
            options = self.synonyms_.get(word)
            return word if not options else ((word,) + options)[int(rng.integers(len(options) + 1))]

        return tuple(tuple(draw(w) for w in words) for _ in range(self.copies))

    def loss(self, step: TrainingStep):
        import torch

        if self.strategy == "synonym-augmentation":  # the copies are the perturbation: plain loss on them
            return step.loss_of(step.forward(step.inputs))
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
