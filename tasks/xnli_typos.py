"""XNLI under real typos: the clean XNLI task's model, tested on XNLI test sets with real misspellings.

Training, selection and both protocols are exactly those of `xnli` (tasks/xnli.py): the frozen head is
content-addressed, so it is the very head the clean task trained (reloaded, not retrained). Test data:
every `robustness/xnli-typos/test_<lang>_typos_<ratio>.tsv` (Stickland et al. 2023: real misspellings
mined from human corrections replace `ratio` of the words). Per noisy file: accuracy on it, the clean
accuracy of the same model, and the drop. Where the language has clean XNLI test items (German
`xnli/<lang>/test.tsv`), each noisy row is matched to its clean twin (same label, near-identical text;
tasks/_typos.py) and the matched rows are scored noisy and clean: a drop on identical items (the
subset is `typos-<ratio>` when every row is matched, else `typos-<ratio>-paired` next to it). Elsewhere the clean score is the language's held-out XNLI dev items, which are other items.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from bench.encoders.base import Encoder
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._transfer import sample
from tasks._typos import CLEAN_PREFIX, match_clean_twins, read_xnli_typos, robustness_scores, typo_files
from tasks.xnli import CrossLingualNli, read_nli, xnli_files

FOLDER = "xnli-typos"
CLEAN_FALLBACK = "dev-heldout"


def noisy_files(data_dir: Path, language: str):
    return typo_files(Path(data_dir), FOLDER, "tsv").get(language, ())


def nli_rows(path: Path) -> tuple[tuple[str, str, str], ...]:
    items = read_nli(path)
    return tuple(zip(items.premises, items.hypotheses, items.labels))


@functools.lru_cache(maxsize=8)
def clean_twins(noisy_path: Path, clean_path: Path) -> tuple[int | None, ...]:
    return match_clean_twins(read_xnli_typos(noisy_path), nli_rows(clean_path))


@task(TaskSpec(
    name="xnli-typos",
    version="2",
    protocol="xnli-dev-item-split-en-train+typos",
    metrics=("accuracy", "clean_accuracy", "drop", "baseline_accuracy"),
    main_metric="accuracy",
    higher_is_better=True,
    lower_is_better=("drop",),
    trains_on_source=True,
    granularity=Level.SENTENCE,
    dataset="XNLI test with real typos (Stickland et al. 2023); clean: XNLI dev (held-out items) and German test",
    citation="Stickland et al. 2023 (typos); Conneau et al. 2018 (XNLI)",
    summary="natural language inference under real misspellings: noisy accuracy, clean accuracy, drop",
))
@dataclass(frozen=True)
class NoisyNli(CrossLingualNli):
    def languages(self, data_dir: Path) -> list[str]:
        return sorted(typo_files(Path(data_dir), FOLDER, "tsv"))

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        clean = super().data_files(data_dir, language) if language in xnli_files(data_dir) else \
            [files["dev"] for files in xnli_files(data_dir).values()]
        return clean + [f.path for f in noisy_files(data_dir, language)]

    def protocol(self, layer: int) -> dict:
        clean = super().protocol(layer)
        return {**clean, "id": f"{clean['id']}+typos", "dataset": "XNLI 1.0 + real-typo test sets (Stickland et al. 2023)",
                "test": (f"robustness/{FOLDER}/test_<lang>_typos_<ratio>.tsv, all rows (plus a '-paired' subset of "
                         "the rows with a matched clean twin in xnli/<lang>/test.tsv when not every row has one)"),
                "clean": (f"the same model on the matched clean twins where xnli/<lang>/test.tsv exists, otherwise "
                          f"on the language's {CLEAN_FALLBACK} lines (other items)"),
                "drop": "clean accuracy - noisy accuracy, points"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts = super().evaluation_texts(data_dir)
        for lang, files in typo_files(Path(data_dir), FOLDER, "tsv").items():
            for typo in files:
                texts.setdefault(lang, set()).update(t for p, h, _ in read_xnli_typos(typo.path) for t in (p, h))
        return texts

    def test_sets(self, data_dir: Path, language: str) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
        files = xnli_files(data_dir)
        sets = {}
        if language in files:
            pairs, gold = super().test_sets(data_dir, language)[CLEAN_FALLBACK]
            sets[CLEAN_PREFIX + CLEAN_FALLBACK] = (pairs, gold)
        clean_test = files.get(language, {}).get("test")
        for typo in noisy_files(data_dir, language):
            rows = read_xnli_typos(typo.path)
            keep = sample(range(len(rows)), self.test_limit)
            sets[typo.subset] = ([rows[i][:2] for i in keep], [rows[i][2] for i in keep])
            if clean_test is None:
                continue
            twins, clean = clean_twins(typo.path, clean_test), nli_rows(clean_test)
            matched = [i for i in keep if twins[i] is not None]
            paired = typo.subset if len(matched) == len(keep) else f"{typo.subset}-paired"
            if matched:
                sets[paired] = ([rows[i][:2] for i in matched], [rows[i][2] for i in matched])
                sets[CLEAN_PREFIX + paired] = ([clean[twins[i]][:2] for i in matched], [clean[twins[i]][2] for i in matched])
        return sets

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        noisy = {typo.subset: typo for typo in noisy_files(ctx.data_dir, language)}
        return robustness_scores(super().evaluate(encoder, language, ctx), noisy, "accuracy", CLEAN_FALLBACK,
                                 f"other items: the {CLEAN_FALLBACK} lines of xnli/{language}/dev.tsv")
