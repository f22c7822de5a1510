"""Tatoeba sentence retrieval, XTREME protocol (Hu et al. 2020; data: Artetxe & Schwenk 2019).

Data: LASER `tatoeba.<xxx>-eng.{<xxx>,eng}` files (1,000 line-aligned pairs per language), found by
file name; ISO 639-3 codes are normalised (deu -> de, cmn -> zh). Without a local `tatoeba/` folder
the same pairs are read from the pinned hub copy `mteb/tatoeba-bitext-mining`.
Protocol: mean-pooled layer-L states (special tokens included, no prefix), cosine 1-nearest
neighbour over the whole other side. Main: English queries searching the other side (en->xx);
xx->en is reported too. Metric: P@1 x 100 (= accuracy).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import PIVOT, language_of, normalize_language
from bench.metrics import hit_items
from bench.registry import task
from bench.retrieval import nearest_neighbour
from bench.specs import EncodeSpec, Level, Requirement, Score, TaskSpec
from bench.taskapi import TaskContext
from bench.textio import read_aligned
from tasks import _hub
from tasks._common import embed, sentence_protocol, sentence_spec


@dataclass(frozen=True)
class TatoebaFiles:
    code: str
    other: Path
    english: Path


@functools.cache
def find_tatoeba(root: Path) -> dict[str, TatoebaFiles]:
    found = {}
    for english in sorted(root.glob("tatoeba.*-eng.eng")):
        code = english.name[len("tatoeba."):-len("-eng.eng")]
        other = root / f"tatoeba.{code}-eng.{code}"
        lang = language_of(code, english)
        if lang in found:
            raise ValueError(f"{root}: two Tatoeba files map to language {lang!r}")
        found[lang] = TatoebaFiles(code, other, english)
    return found


@functools.cache
def _hub_configs(data_dir: Path) -> dict[str, str]:
    """Language -> hub config name ('deu-eng'), for a data root without a tatoeba/ folder."""
    return {normalize_language(c.split("-")[0]): c for c in _hub.configs(_hub.TATOEBA, str(data_dir / "tatoeba"))
            if c.endswith("-eng")}


def tatoeba_languages(data_dir: Path) -> list[str]:
    root = Path(data_dir) / "tatoeba"
    return sorted(find_tatoeba(root) if root.is_dir() else _hub_configs(data_dir))


def load_tatoeba(data_dir: Path, lang: str) -> tuple[list[str], list[str]]:
    """(other side, English side), line-aligned: from the LASER files, else the pinned hub copy."""
    root = Path(data_dir) / "tatoeba"
    if not root.is_dir():
        config = _hub_configs(data_dir).get(lang)
        if config is None:
            raise KeyError(f"no Tatoeba data for {lang!r} locally ({root}) or on the hub")
        pairs = _hub.rows(_hub.TATOEBA, config, str(root))
        return [r["sentence1"] for r in pairs], [r["sentence2"] for r in pairs]
    files = find_tatoeba(root)
    if lang not in files:
        raise KeyError(f"no Tatoeba files for {lang!r} in {root} (found {sorted(files)})")
    f = files[lang]
    return read_aligned(f.other, f.english, "Tatoeba pair file")


@task(TaskSpec(
    name="tatoeba",
    version="1",
    protocol="xtreme-tatoeba-meanpool-cos1nn",
    metrics=("p1_en_to_xx", "p1_xx_to_en"),
    main_metric="p1_en_to_xx",
    higher_is_better=True,
    granularity=Level.SENTENCE,
    dataset="LASER Tatoeba v1 test (1,000 pairs per language)",
    citation="Artetxe & Schwenk 2019 (TACL); Hu et al. 2020 (XTREME)",
    summary="parallel sentence retrieval, P@1",
))
@dataclass(frozen=True)
class Tatoeba:
    limit: int | None = None  # first N pairs only (smoke tests); None = the full test set

    def languages(self, data_dir: Path) -> list[str]:
        return tatoeba_languages(data_dir)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return sentence_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        root = Path(data_dir) / "tatoeba"
        found = find_tatoeba(root).get(language) if root.is_dir() else None
        return [found.other, found.english] if found else []  # [] for the hub copy: no local file to digest

    def requirements(self) -> frozenset[Requirement]:
        return frozenset()

    def protocol(self, layer: int) -> dict:
        return {**sentence_protocol(layer), "dataset": "tatoeba.<xxx>-eng (LASER v1)", "split": "test, all pairs"
                if self.limit is None else f"test, first {self.limit} pairs", "similarity": "cosine",
                "direction": "main en->xx (English queries); xx->en reported", "metric": "P@1 x100"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts: dict[str, set[str]] = {}
        for lang in self.languages(data_dir):
            other, english = load_tatoeba(data_dir, lang)
            texts.setdefault(lang, set()).update(other)
            texts.setdefault(PIVOT, set()).update(english)
        return texts

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        other, english = load_tatoeba(ctx.data_dir, language)
        if self.limit:
            other, english = other[: self.limit], english[: self.limit]
        X = embed(encoder, other, language, ctx.layer)
        E = embed(encoder, english, PIVOT, ctx.layer)
        gold = np.arange(len(other))
        n = len(other)
        en_to_xx, xx_to_en = nearest_neighbour(E, X) == gold, nearest_neighbour(X, E) == gold
        return [
            Score("p1_en_to_xx", 100 * float(en_to_xx.mean()), n, items=hit_items(en_to_xx)),
            Score("p1_xx_to_en", 100 * float(xx_to_en.mean()), n, items=hit_items(xx_to_en)),
        ]
