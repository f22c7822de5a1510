"""The Task contract: tasks load data themselves and score an Encoder for one language."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from bench.encoders.base import Encoder
from bench.specs import EncodeSpec, Requirement, Score
from bench.tasktime import TrainingObjective


@dataclass(frozen=True)
class TaskContext:
    data_dir: Path
    layer: int
    seed: int
    cache_dir: Path | None = None  # where tasks may keep trained heads (content-addressed)
    objective: TrainingObjective | None = None  # a task-time method's training loss (bench/tasktime.py), else None


class Task(Protocol):
    """A registered task class (dataclass; its fields are the task's parameters).

    The registry refuses a class that lacks one of these methods. `languages` looks at file names
    only; reading and validating a file happens inside `evaluate` (and `evaluation_texts`), so a
    malformed file fails the cells that read it, not the whole grid.
    """

    def languages(self, data_dir: Path) -> list[str]:
        """Languages (or language pairs) found in the data directory, from file and folder names only."""

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        """Every file a cell for `language` reads (test and task-training files); their content digest is
        part of the cell's identity, so a changed file re-runs exactly the cells that read it."""

    def requirements(self) -> frozenset[Requirement]:
        """What the cell needs from the encoder and method beyond pooled vectors (token states, trainable
        weights); a cell whose needs are not met is planned as not applicable."""

    def cell_languages(self, language: str) -> tuple[str, ...]:
        """Every language whose vectors a cell for `language` needs (for fitting aligners)."""

    def encode_spec(self, layer: int) -> EncodeSpec: ...

    def protocol(self, layer: int) -> dict:
        """The full protocol as data: dataset, split roles, layer, pooling, direction, metric."""

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        """Every evaluation text by language, so that training data can be checked against it."""

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]: ...


class SyntheticTask(Task, Protocol):
    """A task of kind "synthetic": it simulates its data and fits the method itself (no encoder)."""

    def evaluate_method(self, make_method: Callable[[], object], language: str, ctx: TaskContext) -> list[Score]: ...
