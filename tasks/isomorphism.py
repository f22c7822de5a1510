"""Isomorphism diagnostic: how alike a language's space and the English space are in shape.

Items: the UD PUD sentences of the language and their English originals (paired by sent_id),
mean-pooled at layer L after the method's map. Metrics: relational similarity RSIM (Vulić et al.
2020; Pearson x100 of the two within-language cosine matrices; main, higher = more isometric) and the
singular value gap SVG (Dubossarsky et al. 2020; lower = more isomorphic), which is also the
structural validation criterion (negated) of Zhao & Eger 2022.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import diagnostics as dg
from bench.encoders.base import Encoder
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._common import SENTENCE_POOLING_NOTE
from tasks._pud import PudPairDiagnostic, pud_protocol


@task(TaskSpec(
    name="isomorphism",
    version="1",
    protocol="pud-sentences-rsim-svg",
    metrics=("rsim", "svg"),
    main_metric="rsim",
    higher_is_better=True,
    granularity=Level.SENTENCE,
    dataset="UD PUD (1,000 translation pairs per language)",
    citation="Vulić et al. 2020 (RSIM); Dubossarsky et al. 2020 (SVG)",
    summary="isomorphism with English: relational similarity and singular value gap",
    kind="diagnostic",
    lower_is_better=("svg",),
))
@dataclass(frozen=True)
class Isomorphism(PudPairDiagnostic):
    def protocol(self, layer: int) -> dict:
        return {**pud_protocol(layer), "split": "probe (no training)", "pooling": SENTENCE_POOLING_NOTE,
                "direction": "language vs English, rows paired by sent_id",
                "metric": "rsim: Pearson x100 of the upper triangles of the two cosine matrices; svg: sum of squared "
                          "differences of log singular values of the unit-length, mean-centred matrices"}

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        X, Y = self.embedded_pairs(encoder, language, ctx.data_dir, ctx.layer)
        return [Score("rsim", dg.relational_similarity(X, Y), len(X)), Score("svg", dg.singular_value_gap(X, Y), len(X))]
