"""Isotropy diagnostic: how uniformly a language's token vectors fill the space.

Tokens: every content token (special tokens removed) of the language's UD PUD sentences at layer L,
after the method's map. Metrics: average cosine of 10,000 random token pairs (Ethayarajh 2019; 0 for
isotropic vectors, lower = more isotropic; main) and the partition-function ratio I(W) of Mu &
Viswanath 2018 on up to 5,000 sampled tokens, unit-length (1 = isotropic).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import diagnostics as dg
from bench.encoders.base import Encoder
from bench.registry import task
from bench.specs import EncodeSpec, Level, Requirement, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._pud import pud_files, pud_languages, pud_protocol, pud_texts
from bench.wordvectors import content_tokens, word_spec


@task(TaskSpec(
    name="isotropy",
    version="2",  # 2: partition ratio on unit-length vectors (raw states gave 0.0 everywhere)
    protocol="pud-tokens-avgcos-partition",
    metrics=("avg_cosine", "partition_ratio"),
    main_metric="avg_cosine",
    higher_is_better=False,
    granularity=Level.WORD,
    dataset="UD PUD (1,000 sentences per language)",
    citation="Ethayarajh 2019; Mu & Viswanath 2018",
    summary="isotropy of token vectors: random-pair cosine and partition-function ratio",
    kind="diagnostic",
))
@dataclass(frozen=True)
class Isotropy:
    n_pairs: int = 10_000
    partition_tokens: int = 5_000

    def languages(self, data_dir: Path) -> list[str]:
        return pud_languages(data_dir, with_pivot=True)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language,)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return pud_files(data_dir, (language,))

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def protocol(self, layer: int) -> dict:
        return {**pud_protocol(layer), "split": "probe (no training)",
                "vectors": "content tokens (special tokens removed), after the method's map",
                "metric": f"avg_cosine: x100 mean cosine of {self.n_pairs} random pairs of distinct tokens (seeded by the "
                          f"cell seed), lower = more isotropic; partition_ratio: Mu & Viswanath I(W) on "
                          f"{self.partition_tokens} sampled tokens, unit-length vectors, 1 = isotropic"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        return {}  # nothing is trained: PUD is already guarded by the UD tasks

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        texts = list(pud_texts(ctx.data_dir, language).values())
        per_text, _ = content_tokens(encoder, texts, language, ctx.layer)
        tokens = np.concatenate(per_text)
        rng = np.random.default_rng(ctx.seed)
        sample = tokens[np.sort(rng.choice(len(tokens), min(self.partition_tokens, len(tokens)), replace=False))]
        return [Score("avg_cosine", 100.0 * dg.average_cosine(tokens, self.n_pairs, ctx.seed), len(tokens)),
                Score("partition_ratio", dg.partition_ratio(sample), len(sample))]
