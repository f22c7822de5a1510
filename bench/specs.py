"""Typed specs shared by methods, tasks, encoders and the runner.

The survey "Lost in Alignment" (ACM CSUR 2025) sorts alignment methods into six categories;
`Category` carries them with a one-line description each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Category(enum.Enum):
    A = "a"
    B = "b"
    C = "c"
    D = "d"
    E = "e"
    F = "f"
    CONTROL = "control"

    @property
    def description(self) -> str:
        return _CATEGORY_DESCRIPTIONS[self]


_CATEGORY_DESCRIPTIONS = {
    Category.A: "offline alignment of independent embeddings via anchors",
    Category.B: "offline alignment of independent embeddings without anchors",
    Category.C: "fine-tuning a multilingual encoder with anchors",
    Category.D: "adjusting a multilingual encoder without explicit anchors",
    Category.E: "anchored multilingual pre-training",
    Category.F: "pre-training on parallel data",
    Category.CONTROL: "no alignment: the encoder as it is (control row)",
}


class Resource(enum.Enum):
    """Training data a method consumes; the runner checks availability before `fit`."""

    PARALLEL_SENTENCES = "parallel_sentences"
    WORD_ALIGNMENTS = "word_alignments"
    BILINGUAL_LEXICON = "bilingual_lexicon"
    MONOLINGUAL_TEXT = "monolingual_text"
    GPU = "gpu"


class Requirement(enum.Enum):
    """What a cell needs from its encoder or method beyond texts; the plan marks a cell whose needs are
    not met as "not applicable" instead of running it."""

    TOKEN_STATES = "token states"  # per-token vectors (a sentence-level encoder has none)
    TRAINABLE_WEIGHTS = "trainable encoder weights"  # the fine-tune protocol trains the encoder itself


class Unit(enum.Enum):
    SENTENCES = "sentences"  # one mean-pooled vector per text
    TOKENS = "tokens"  # contextual token states of the texts (special tokens dropped)


@dataclass(frozen=True)
class AnchorRequest:
    """One piece of training data an aligner asks the runner for.

    `budget` caps the pairs or sentences read (for `WORD_ALIGNMENTS`: the one-to-one word links kept;
    the aligner sees every sentence pair). `unit = TOKENS` (monolingual text only) turns the sentences
    into at most `max_vectors` contextual token states, which needs an encoder with token states.
    """

    resource: "Resource"
    budget: int = 2000
    unit: Unit = Unit.SENTENCES
    max_vectors: int = 0

    def __post_init__(self):
        if not isinstance(self.resource, Resource):
            raise TypeError(f"AnchorRequest.resource must be a Resource, got {self.resource!r}")
        if self.budget < 1:
            raise ValueError(f"AnchorRequest.budget must be >= 1, got {self.budget}")
        if self.unit is Unit.TOKENS and (self.resource is not Resource.MONOLINGUAL_TEXT or self.max_vectors < 1):
            raise ValueError("token units are for monolingual text and need max_vectors >= 1")


class Mode(enum.Enum):
    OFFLINE = "offline"  # applied to fixed representations after training
    ONLINE = "online"  # changes the encoder's weights
    TASK_TIME = "task-time"  # acts while a task trains its model on the source language (bench/tasktime.py)


class Signal(enum.Enum):
    BILINGUAL_DICTIONARY = "bilingual dictionary"
    PARALLEL_CORPUS = "parallel corpus"
    NONE = "none"


class WordAlignmentSource(enum.Enum):
    OFF_THE_SHELF = "off-the-shelf"
    DURING_ALIGNMENT = "during alignment"
    NOT_APPLICABLE = "n/a"


class Level(enum.Enum):
    WORD = "word"
    SENTENCE = "sentence"


class Pooling(enum.Enum):
    MEAN = "mean"  # mean over every non-padding token, special tokens included
    CLS = "cls"  # the first token's state


@dataclass(frozen=True)
class MethodSpec:
    """Registry metadata of one alignment method (the survey's Table-1 fields)."""

    name: str
    category: Category
    version: str
    citation: str
    mode: Mode
    signal: Signal
    word_alignment: WordAlignmentSource
    level: Level
    supervision: frozenset[Resource] = frozenset()  # every resource some configuration may consume
    summary: str = ""
    identity: bool = False  # transform is the identity: vectors and the encoder's weights stay reachable
    pretrained_encoder: str = ""  # the method is this pretrained encoder (an encoder name), used in place of the grid's
    task_protocols: frozenset[str] = frozenset()  # a task-time method: the transfer protocols it acts in

    def __post_init__(self):
        from bench.tasktime import TASK_PROTOCOLS

        if (self.mode is Mode.TASK_TIME) != bool(self.task_protocols):
            raise ValueError(f"method {self.name}: task_protocols is for task-time methods, and they need one")
        if not self.task_protocols <= set(TASK_PROTOCOLS):
            raise ValueError(f"method {self.name}: task_protocols must be within {TASK_PROTOCOLS}")

    @property
    def trains_encoder(self) -> bool:
        """A Finetuner (bench/finetune.py): it trains a checkpoint from the grid's encoder."""
        return self.mode is Mode.ONLINE and not self.pretrained_encoder

    @property
    def keeps_weights_trainable(self) -> bool:
        """Whether a task may fine-tune the encoder behind this method (the control row, or a method that
        changes the weights itself); a fitted map only transforms frozen vectors."""
        return self.identity or self.trains_encoder or self.acts_at_task_time

    @property
    def acts_at_task_time(self) -> bool:
        """A task-time method (bench/tasktime.py): it changes how a task trains, not the encoder."""
        return self.mode is Mode.TASK_TIME


TASK_KINDS = ("task", "diagnostic", "synthetic")

# A noisy-input task (tasks/_typos.py) reports, per noisy test subset, its main metric on the noisy items,
# `clean_<main>` (the same model on clean items) and DROP_METRIC (clean - noisy, points); the leaderboard's
# robustness table reads these names.
DROP_METRIC = "drop"


def clean_metric(main_metric: str) -> str:
    return f"clean_{main_metric}"


@dataclass(frozen=True)
class TaskSpec:
    """Registry metadata of one task; the protocol id and version name what a number means."""

    name: str
    version: str
    protocol: str
    metrics: tuple[str, ...]
    main_metric: str
    higher_is_better: bool
    granularity: Level
    dataset: str
    citation: str
    summary: str = ""
    kind: str = "task"  # "task" (a downstream score), "diagnostic" (a property of the space) or "synthetic" (simulated data)
    lower_is_better: tuple[str, ...] = ()  # metrics other than the main one for which lower is better
    trains_on_source: bool = False  # trains a model on the source language: task-time methods act on it

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name}: kind must be one of {TASK_KINDS}, not {self.kind!r}")
        if self.main_metric not in self.metrics:
            raise ValueError(f"task {self.name}: main metric {self.main_metric!r} is not in {self.metrics}")

    def higher_is_better_for(self, metric: str) -> bool:
        return self.higher_is_better if metric == self.main_metric else metric not in self.lower_is_better


@dataclass(frozen=True)
class EncodeSpec:
    """Every parameter that changes a vector; all of it goes into the embedding-cache key.

    `layers` are absolute `hidden_states` indices (0 = embedding output).
    """

    layers: tuple[int, ...]
    pooling: Pooling = Pooling.MEAN
    max_length: int = 512
    prefix: str = ""
    dtype: str = "float32"
    keep_tokens: bool = False

    def __post_init__(self):
        if not self.layers:
            raise ValueError("EncodeSpec.layers must name at least one hidden_states index")
        if any(layer < 0 for layer in self.layers):
            raise ValueError(f"layers must be absolute hidden_states indices >= 0, got {self.layers}")
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be float32 or float16, got {self.dtype!r}")

    def with_layers(self, layers: tuple[int, ...]) -> "EncodeSpec":
        return EncodeSpec(layers, self.pooling, self.max_length, self.prefix, self.dtype, self.keep_tokens)

    def key_fields(self) -> dict:
        return {
            "pooling": self.pooling.value,
            "max_length": self.max_length,
            "prefix": self.prefix,
            "dtype": self.dtype,
            "keep_tokens": self.keep_tokens,
        }


class Statistic(enum.Enum):
    """How a metric is computed from its per-item columns (`Items`), so it can be resampled.

    mean: mean of `value`; ratio: sum(`num`) / sum(`den`); f1: 2 tp / (2 tp + fp + fn) from per-item
    `tp`, `fp`, `fn`; pearson / spearman: correlation of `x` (system) with `y` (gold); aer: Och & Ney's
    1 - (|A&S| + |A&P|) / (|A| + |S|) from per-item `a_s`, `a_p`, `a`, `s`; align_f1: the harmonic mean of
    precision sum(`a_p`) / sum(`a`) and recall sum(`a_s`) / sum(`s`) (the word-alignment F1)."""

    MEAN = "mean"
    RATIO = "ratio"
    F1 = "f1"
    PEARSON = "pearson"
    SPEARMAN = "spearman"
    AER = "aer"
    ALIGN_F1 = "align_f1"

    @property
    def columns(self) -> tuple[str, ...]:
        return _STATISTIC_COLUMNS[self]


_STATISTIC_COLUMNS = {
    Statistic.MEAN: ("value",), Statistic.RATIO: ("num", "den"), Statistic.F1: ("tp", "fp", "fn"),
    Statistic.PEARSON: ("x", "y"), Statistic.SPEARMAN: ("x", "y"), Statistic.AER: ("a_s", "a_p", "a", "s"),
    Statistic.ALIGN_F1: ("a_s", "a_p", "a", "s"),
}


@dataclass(frozen=True)
class Items:
    """The per-item outcomes behind one Score: `ids` names each item (the same ids in the same order
    for every method on one task, language and seed, so two methods pair item by item), `columns`
    holds the statistic's inputs (one value per item), `scale` multiplies the statistic (100 for x100)."""

    statistic: Statistic
    ids: tuple
    columns: dict
    scale: float = 100.0

    def __post_init__(self):
        missing = [c for c in self.statistic.columns if c not in self.columns]
        if missing:
            raise ValueError(f"items for a {self.statistic.value} statistic need columns {missing}")
        lengths = {name: len(values) for name, values in self.columns.items()}
        if any(n != len(self.ids) for n in lengths.values()):
            raise ValueError(f"items: {len(self.ids)} ids but column lengths {lengths}")
        if not self.ids:
            raise ValueError("items: no items")


@dataclass(frozen=True)
class Score:
    """One number a task computed for one language (and optionally one subset of it), with the
    per-item outcomes it was computed from where the task records them."""

    metric: str
    value: float
    n: int
    subset: str = ""
    extra: dict = field(default_factory=dict, compare=False)
    items: Items | None = field(default=None, compare=False)
