"""The Task contract: tasks load data themselves and score an Encoder for one language."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.encoders.base import Encoder
from bench.specs import EncodeSpec, Score


@dataclass(frozen=True)
class TaskContext:
    data_dir: Path
    layer: int
    seed: int
    cache_dir: Path | None = None  # where tasks may keep trained heads (content-addressed)


class Task(Protocol):
    """A registered task class (dataclass; its fields are the task's parameters)."""

    def languages(self, data_dir: Path) -> list[str]:
        """Languages (or language pairs) found in the data directory, from file names."""

    def cell_languages(self, language: str) -> tuple[str, ...]:
        """Every language whose vectors a cell for `language` needs (for fitting aligners)."""

    def encode_spec(self, layer: int) -> EncodeSpec: ...

    def protocol(self, layer: int) -> dict:
        """The full protocol as data: dataset, split roles, layer, pooling, direction, metric."""

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        """Every evaluation text by language, so that training data can be checked against it."""

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]: ...
