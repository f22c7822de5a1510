"""Language-neutrality diagnostic: can sentence vectors tell the language apart?

Items: UD PUD sentences of the language and their English originals (paired by sent_id), mean-pooled
at layer L after the method's map. Metrics:
- lid_accuracy (main, lower = more neutral; 50 = chance): a logistic-regression language-ID probe
  (language vs English) trained on the vectors of half of the sent_ids and tested on the other half,
  so no test sentence or its translation is seen in training (Libovický et al. 2020 use a probe too);
- cosine_gap: mean cosine of translation pairs minus that of non-translation pairs, x100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench import diagnostics as dg
from bench.encoders.base import Encoder
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._common import SENTENCE_POOLING_NOTE
from tasks._pud import PudPairDiagnostic, pud_protocol


@task(TaskSpec(
    name="neutrality",
    version="1",
    protocol="pud-lid-probe-cosine-gap",
    metrics=("lid_accuracy", "cosine_gap"),
    main_metric="lid_accuracy",
    higher_is_better=False,
    granularity=Level.SENTENCE,
    dataset="UD PUD (1,000 translation pairs per language)",
    citation="Libovický et al. 2020 (language neutrality)",
    summary="language identification probe accuracy and translation cosine gap",
    kind="diagnostic",
))
@dataclass(frozen=True)
class Neutrality(PudPairDiagnostic):
    regularization: float = 1.0  # inverse L2 strength of the logistic regression (scikit-learn's C)

    def protocol(self, layer: int) -> dict:
        return {**pud_protocol(layer), "pooling": SENTENCE_POOLING_NOTE,
                "split": "sent_ids split 50/50 by the cell seed: probe train / probe test",
                "probe": f"scikit-learn LogisticRegression(C={self.regularization}) on standardised vectors, "
                         "language vs English",
                "metric": "lid_accuracy x100 on the test half (50 = chance, lower = more neutral); "
                          "cosine_gap x100 over all pairs"}

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X, Y = self.embedded_pairs(encoder, language, ctx.data_dir, ctx.layer)
        order = np.random.default_rng(ctx.seed).permutation(len(X))
        train, test = order[: len(X) // 2], order[len(X) // 2:]
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=self.regularization, max_iter=2000))
        probe.fit(np.concatenate([X[train], Y[train]]), np.r_[np.ones(len(train)), np.zeros(len(train))])
        predicted = probe.predict(np.concatenate([X[test], Y[test]]))
        accuracy = 100.0 * float(np.mean(predicted == np.r_[np.ones(len(test)), np.zeros(len(test))]))
        return [Score("lid_accuracy", accuracy, 2 * len(test)), Score("cosine_gap", dg.cosine_gap(X, Y), len(X))]
