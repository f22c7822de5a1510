"""NER under real typos: the clean NER task's model, tested on PAN-X test sets with real misspellings.

Training, selection and both protocols are exactly those of `ner` (tasks/ner.py; the frozen head is
content-addressed, so it is the head the clean task trained). Test data: every
`robustness/panx-typos/test_<lang>_typos_<ratio>.jsonl` (Stickland et al. 2023; integer WikiANN tags).
These are PAN-X *test* sentences, and the data root has no clean copy of them: the clean score is the
same model on the language's PAN-X dev sentences (the clean task's test set), which are other
sentences, so the drop is not paired. Metric: entity F1, seqeval strict IOB2, as in `ner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.encoders.base import Encoder
from bench.languages import PIVOT
from bench.registry import task
from bench.specs import Level, Score, TaskSpec
from bench.taskapi import TaskContext
from tasks._transfer import sample
from tasks._typos import CLEAN_PREFIX, read_panx_typos, robustness_scores, typo_files
from tasks._wordlevel import TaggedSentence
from tasks.ner import NamedEntities, panx_files

FOLDER = "panx-typos"


def noisy_files(data_dir: Path, language: str):
    return typo_files(Path(data_dir), FOLDER, "jsonl").get(language, ())


def clean_subset(language: str) -> str:
    return "panx-dev-heldout" if language == PIVOT else "panx-dev"


@task(TaskSpec(
    name="ner-typos",
    version="1",
    protocol="panx-entity-f1-strict-iob2-en-train+typos",
    metrics=("f1", "clean_f1", "drop", "baseline_f1"),
    main_metric="f1",
    higher_is_better=True,
    lower_is_better=("drop",),
    trains_on_source=True,
    granularity=Level.WORD,
    dataset="PAN-X test with real typos (Stickland et al. 2023); clean: PAN-X dev (other sentences)",
    citation="Stickland et al. 2023 (typos); Pan et al. 2017 (WikiANN)",
    summary="named entities under real misspellings: noisy F1, clean F1 on other sentences, drop",
))
@dataclass(frozen=True)
class NoisyNamedEntities(NamedEntities):
    def languages(self, data_dir: Path) -> list[str]:
        return sorted(typo_files(Path(data_dir), FOLDER, "jsonl"))

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        panx = panx_files(data_dir)
        files = [panx[PIVOT] / name for name in ("train.tsv", "dev.tsv")] if PIVOT in panx else []
        if language in panx and language != PIVOT:
            files.append(panx[language] / "dev.tsv")
        return files + [f.path for f in noisy_files(data_dir, language)]

    def protocol(self, layer: int) -> dict:
        clean = super().protocol(layer)
        return {**clean, "id": f"{clean['id']}+typos", "dataset": "PAN-X + real-typo test sets (Stickland et al. 2023)",
                "test": f"robustness/{FOLDER}/test_<lang>_typos_<ratio>.jsonl (PAN-X test sentences)",
                "clean": "the same model on panx/<lang>/dev.tsv (odd sentences for en): other sentences, unpaired",
                "drop": "clean F1 - noisy F1, points"}

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        texts = super().evaluation_texts(data_dir)
        for lang, files in typo_files(Path(data_dir), FOLDER, "jsonl").items():
            for typo in files:
                texts.setdefault(lang, set()).update(" ".join(words) for words, _ in read_panx_typos(typo.path))
        return texts

    def test_sets(self, data_dir: Path, language: str, english_test, labels) -> dict[str, list[TaggedSentence]]:
        clean = super().test_sets(data_dir, language, english_test, labels)
        sets = {CLEAN_PREFIX + clean_subset(language): clean[clean_subset(language)]} if clean_subset(language) in clean else {}
        for typo in noisy_files(data_dir, language):
            sentences = sample(read_panx_typos(typo.path), self.test_limit)
            sets[typo.subset] = [TaggedSentence(words, tags) for words, tags in sentences]
        return sets

    def evaluate(self, encoder: Encoder, language: str, ctx: TaskContext) -> list[Score]:
        noisy = {typo.subset: typo for typo in noisy_files(ctx.data_dir, language)}
        return robustness_scores(super().evaluate(encoder, language, ctx), noisy, "f1", clean_subset(language),
                                 f"other sentences: panx/{language}/dev.tsv")
