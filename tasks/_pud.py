"""UD PUD as parallel probing data: 1,000 sentences per language, aligned by `sent_id`.

The isotropy, isomorphism and language-neutrality diagnostics read the raw `# text` lines of
`ud/<lang>/pud-test.conllu`. Nothing is trained on them except the diagnostics' own probes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.encoders.base import Encoder
from bench.languages import PIVOT
from bench.specs import EncodeSpec, Requirement
from tasks._common import embed, sentence_spec
from tasks._ud import load_ud, ud_files

PUD_ROLE = "pud-test"


def pud_languages(data_dir: Path, with_pivot: bool) -> list[str]:
    found = sorted(lang for lang, files in ud_files(data_dir).items() if PUD_ROLE in files)
    return [lang for lang in found if with_pivot or lang != PIVOT]


def pud_files(data_dir: Path, languages: tuple[str, ...]) -> list[Path]:
    files = ud_files(data_dir)
    return [files[lang][PUD_ROLE] for lang in languages if PUD_ROLE in files.get(lang, {})]


def pud_texts(data_dir: Path, lang: str) -> dict[str, str]:
    """sent_id -> raw text (the words joined by spaces where a file has no `# text`)."""
    files = ud_files(data_dir).get(lang, {})
    if PUD_ROLE not in files:
        raise FileNotFoundError(f"no {Path(data_dir) / 'ud' / lang / (PUD_ROLE + '.conllu')}")
    return {s.sent_id: (s.text or " ".join(s.words)) for s in load_ud(files[PUD_ROLE])}


def pud_pairs(data_dir: Path, lang: str) -> tuple[list[str], list[str], list[str]]:
    """(sent_ids, texts in `lang`, English texts) for the sentences both files have, in sent_id order."""
    own, english = pud_texts(data_dir, lang), pud_texts(data_dir, PIVOT)
    ids = sorted(set(own) & set(english))
    if len(ids) < 10:
        raise ValueError(f"PUD {lang}-{PIVOT}: only {len(ids)} sentences share a sent_id")
    return ids, [own[i] for i in ids], [english[i] for i in ids]


def pud_protocol(layer: int) -> dict:
    return {"dataset": "UD PUD (ud/<lang>/pud-test.conllu, raw # text lines)", "layer": layer,
            "layer_index": "absolute hidden_states index (0 = embeddings)"}


class PudPairDiagnostic:
    """Base of the diagnostics over PUD translation pairs (language vs English, mean-pooled sentences)."""

    def languages(self, data_dir: Path) -> list[str]:
        return pud_languages(data_dir, with_pivot=False)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int) -> EncodeSpec:
        return sentence_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        return pud_files(data_dir, (language, PIVOT))

    def requirements(self) -> frozenset[Requirement]:
        return frozenset()

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        return {}  # nothing is trained on these items for a task; PUD is guarded by the UD tasks

    @staticmethod
    def embedded_pairs(encoder: Encoder, language: str, data_dir: Path, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Row-aligned sentence vectors (X in `language`, Y in English) after the method's map."""
        _, own, english = pud_pairs(data_dir, language)
        return embed(encoder, own, language, layer), embed(encoder, english, PIVOT, layer)
