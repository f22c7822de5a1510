"""Training text for aligners, read from the data root and checked against evaluation data.

- parallel sentences: `parallel/<xx>-en/` — WMT `newstestYYYY.<xx>`/`.en` line-aligned pairs,
  PAWS-X `pawsx-dev.<xx>.tsv`/`pawsx-dev.en.tsv` (two sentences per line), and Tatoeba Anki exports
  `tatoeba-anki.<xxx>-eng.txt` (English<TAB>other). newstest2017 is never used: RFEval is WMT17.
- dictionary pairs: MUSE `dictionaries/muse/<xx>-en.txt` (word<TAB>translation), minus the source
  words of the MUSE test dictionaries in `dictionaries/muse_test_annotated/`.
- monolingual text: the language's side of its parallel sentences, else the sentences of
  `ner/panx/<xx>/train.tsv` (tokens joined by spaces).

Every pair or sentence that also occurs in any registered task's evaluation data (case- and
space-insensitive) is dropped, and the number dropped is recorded.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.languages import PIVOT, normalize_language
from bench.textio import DataFormatError, read_aligned, read_lines, split_columns

EXCLUDED_PARALLEL = re.compile(r"newstest2017")  # source of the RFEval (WMT17 DA) segments


@dataclass(frozen=True)
class TextPairs:
    pairs: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]
    dropped_for_overlap: int = 0
    meta: dict = field(default_factory=dict, compare=False)

    def provenance(self) -> dict:
        return {"n": len(self.pairs), "sources": list(self.sources), "dropped_for_overlap": self.dropped_for_overlap}


def normalize_text(text: str) -> str:
    return " ".join(text.casefold().split())


def _pair_dir(data_dir: Path, lang: str, pivot: str) -> Path | None:
    root = Path(data_dir) / "parallel"
    for candidate in sorted(root.glob("*-*")) if root.is_dir() else []:
        a, _, b = candidate.name.partition("-")
        try:
            codes = {normalize_language(a), normalize_language(b)}
        except ValueError:
            continue
        if codes == {lang, pivot}:
            return candidate
    return None


def parallel_languages(data_dir: Path, pivot: str = PIVOT) -> list[str]:
    """Languages with a `parallel/<xx>-<pivot>/` folder (either order of the codes)."""
    root = Path(data_dir) / "parallel"
    found = set()
    for candidate in sorted(root.glob("*-*")) if root.is_dir() else []:
        try:
            codes = {normalize_language(code) for code in candidate.name.split("-", 1)}
        except ValueError:
            continue
        if pivot in codes and len(codes) == 2 and candidate.is_dir():
            found |= codes - {pivot}
    return sorted(found)


def _read_parallel_dir(folder: Path, lang: str, pivot: str) -> list[tuple[list[tuple[str, str]], str]]:
    """(pairs, source name) per parallel file found in `folder`; pairs are (lang text, pivot text)."""
    out = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if EXCLUDED_PARALLEL.search(name):
            continue
        if name.endswith(f".{pivot}") or name.endswith(f".{pivot}.tsv"):
            continue  # read together with its other side
        if name.startswith("tatoeba-anki.") and name.endswith(".txt"):
            pairs = []
            for number, line in enumerate(read_lines(path, "Anki export"), 1):
                english, other = split_columns(line, path, number, (2, 3))[:2]
                pairs.append((other, english))
            out.append((pairs, name))
        elif name.endswith(".tsv"):
            english = path.with_name(name[: -len(f".{lang}.tsv")] + f".{pivot}.tsv")
            if not name.endswith(f".{lang}.tsv") or not english.is_file():
                continue
            a, b = read_aligned(path, english, "parallel TSV")
            pairs = []
            for number, (la, lb) in enumerate(zip(a, b), 1):
                fa, fb = split_columns(la, path, number, 3), split_columns(lb, english, number, 3)
                pairs.extend([(fa[0], fb[0]), (fa[1], fb[1])])
            out.append((pairs, name))
        elif name.endswith(f".{lang}"):
            english = path.with_suffix(f".{pivot}")
            if english.is_file():
                a, b = read_aligned(path, english, "parallel text")
                out.append((list(zip(a, b)), name))
    return out


def interleave(groups: list[list]) -> list:
    """Round-robin over sources, so a budget cut keeps every source represented."""
    out, longest = [], max((len(g) for g in groups), default=0)
    for i in range(longest):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def _filter(pairs: list[tuple[str, str]], banned_src: set[str], banned_tgt: set[str]) -> tuple[list, int]:
    kept = [(a, b) for a, b in pairs if normalize_text(a) not in banned_src and normalize_text(b) not in banned_tgt]
    return kept, len(pairs) - len(kept)


def parallel_sentences(data_dir: Path, lang: str, max_pairs: int, banned: dict[str, set[str]], pivot: str = PIVOT) -> TextPairs:
    folder = _pair_dir(data_dir, lang, pivot)
    if folder is None:
        raise FileNotFoundError(f"no parallel data for {lang}-{pivot} under {Path(data_dir) / 'parallel'}")
    found = _read_parallel_dir(folder, lang, pivot)
    pairs, sources = interleave([p for p, _ in found]), [s for _, s in found]
    kept, dropped = _filter(pairs, banned.get(lang, set()), banned.get(pivot, set()))
    kept = list(dict.fromkeys(kept))[:max_pairs]
    if not kept:
        raise DataFormatError(folder, None, f"no usable {lang}-{pivot} sentence pairs")
    return TextPairs(tuple(kept), tuple(sources), dropped)


def dictionary_pairs(data_dir: Path, lang: str, max_pairs: int, banned: dict[str, set[str]], pivot: str = PIVOT) -> TextPairs:
    root = Path(data_dir) / "dictionaries"
    path = root / "muse" / f"{lang}-{pivot}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no MUSE dictionary {path}")
    test_words = set()
    for test_file in sorted((root / "muse_test_annotated").glob(f"{lang}-{pivot}.*.txt")):
        test_words.update(line.split("\t")[0] for line in read_lines(test_file, "MUSE test dictionary", allow_empty=True) if line)
    pairs = []
    for number, line in enumerate(read_lines(path, "MUSE dictionary"), 1):
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) != 2:
            raise DataFormatError(path, number, f"expected 'word<TAB>translation', got {line!r}")
        if fields[0] not in test_words:
            pairs.append((fields[0], fields[1]))
    kept, dropped = _filter(pairs, banned.get(lang, set()), banned.get(pivot, set()))
    kept = list(dict.fromkeys(kept))[:max_pairs]
    return TextPairs(tuple(kept), (path.name,), dropped, {"excluded_test_words": len(test_words)})


def monolingual_sentences(data_dir: Path, lang: str, max_sentences: int, banned: dict[str, set[str]]) -> TextPairs:
    """Unpaired sentences in `lang`, returned as (sentence, sentence) pairs for a uniform type."""
    groups, sources = [], []
    if lang == PIVOT:
        root = Path(data_dir) / "parallel"
        for folder in sorted(root.glob("*-*")) if root.is_dir() else []:
            others = [c for c in folder.name.split("-") if normalize_language(c) != PIVOT]
            for file_pairs, source in _read_parallel_dir(folder, normalize_language(others[0]), PIVOT) if others else []:
                groups.append([p[1] for p in file_pairs])
                sources.append(f"{folder.name}/{source}")
    elif (folder := _pair_dir(data_dir, lang, PIVOT)) is not None:
        for file_pairs, source in _read_parallel_dir(folder, lang, PIVOT):
            groups.append([p[0] for p in file_pairs])
            sources.append(source)
    else:
        groups.append(_panx_sentences(Path(data_dir) / "ner" / "panx" / lang / "train.tsv", lang))
        sources.append(f"ner/panx/{lang}/train.tsv (tokens joined by spaces)")
    unique = list(dict.fromkeys(interleave(groups)))
    kept, dropped = _filter([(t, t) for t in unique], banned.get(lang, set()), set())
    if not kept:
        raise FileNotFoundError(f"no monolingual text for {lang}")
    return TextPairs(tuple(kept[:max_sentences]), tuple(sources), dropped)


def _panx_sentences(path: Path, lang: str) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"no monolingual text for {lang}: neither parallel data nor {path}")
    texts, sentence = [], []
    for line in read_lines(path, "PAN-X file", allow_empty=True):
        if line.strip():
            token = line.split("\t")[0]
            sentence.append(token[len(lang) + 1 :] if token.startswith(f"{lang}:") else token)  # some PAN-X copies prefix "<lang>:"
        elif sentence:
            texts.append(" ".join(sentence))
            sentence = []
    if sentence:
        texts.append(" ".join(sentence))
    return texts


@functools.cache
def evaluation_texts(data_dir: Path, task_names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Normalised evaluation texts of the given tasks, by language (the leakage guard)."""
    from bench.registry import get_task

    merged: dict[str, set[str]] = {}
    for name in task_names:
        try:
            found = get_task(name).cls().evaluation_texts(Path(data_dir))
        except FileNotFoundError:
            continue  # the data root lacks this task's folder: it has no evaluation items to guard
        for lang, texts in found.items():
            merged.setdefault(lang, set()).update(normalize_text(t) for t in texts)
    return {lang: frozenset(texts) for lang, texts in merged.items()}
