"""Universal Dependencies files for the POS and parsing transfer tasks.

Layout: `ud/<lang>/<role>.conllu`, the language from the folder name (normalised) and the role from
the file stem: `train` and `dev` (used for English only: training and model selection) and every
stem ending in `test` (`test`, `pud-test`, ...) as one test subset of that language.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bench.specs import Requirement
from bench.languages import PIVOT, language_of
from bench.textio import DataFormatError
from tasks._common import subdir
from bench.wordvectors import word_spec
from tasks._wordlevel import UdSentence, read_conllu


@functools.cache
def ud_files(data_dir: Path) -> dict[str, dict[str, Path]]:
    """Language -> role -> file."""
    found: dict[str, dict[str, Path]] = {}
    for folder in sorted(p for p in subdir(data_dir, "ud").iterdir() if p.is_dir()):
        files = {f.stem: f for f in sorted(folder.glob("*.conllu"))}
        if files:
            lang = language_of(folder.name, folder)
            if lang in found:
                raise DataFormatError(folder, None, f"a second UD folder for language {lang!r}")
            found[lang] = files
    return found


def ud_languages(data_dir: Path) -> list[str]:
    return sorted(lang for lang, files in ud_files(data_dir).items() if test_subsets(files))


def test_subsets(files: dict[str, Path]) -> dict[str, Path]:
    return {role: path for role, path in files.items() if role.endswith("test")}


def source_file(data_dir: Path, role: str) -> Path:
    files = ud_files(data_dir).get(PIVOT, {})
    if role not in files:
        raise FileNotFoundError(f"{Path(data_dir) / 'ud' / PIVOT}: no {role}.conllu (the transfer source)")
    return files[role]


@functools.lru_cache(maxsize=64)
def load_ud(path: Path) -> tuple[UdSentence, ...]:
    return tuple(read_conllu(path))


def ud_evaluation_texts(data_dir: Path) -> dict[str, set[str]]:
    """Every test sentence (raw `# text`, the words as the encoder sees them, and PUD's `# text_en`)."""
    texts: dict[str, set[str]] = {}
    for lang, files in ud_files(data_dir).items():
        for path in test_subsets(files).values():
            for sentence in load_ud(path):
                bucket = texts.setdefault(lang, set())
                bucket.add(" ".join(sentence.words))
                if sentence.text:
                    bucket.add(sentence.text)
                if sentence.text_en:
                    texts.setdefault(PIVOT, set()).add(sentence.text_en)
    return texts


class UdTransferTask:
    """What the UD transfer tasks (POS, DP) share: languages, encoding and the evaluation texts."""

    def languages(self, data_dir: Path) -> list[str]:
        return ud_languages(data_dir)

    def cell_languages(self, language: str) -> tuple[str, ...]:
        return (language, PIVOT)

    def encode_spec(self, layer: int):
        return word_spec(layer)

    def data_files(self, data_dir: Path, language: str) -> list[Path]:
        english = ud_files(data_dir).get(PIVOT, {})
        source = [english[role] for role in ("train", "dev") if role in english]
        return source + list(test_subsets(ud_files(data_dir).get(language, {})).values())

    def requirements(self) -> frozenset[Requirement]:
        return frozenset({Requirement.TOKEN_STATES})

    def evaluation_texts(self, data_dir: Path) -> dict[str, set[str]]:
        return ud_evaluation_texts(data_dir)
