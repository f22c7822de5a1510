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

from bench.languages import PIVOT, language_of
from bench.specs import Resource
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

    def digest(self) -> str:
        """sha256 of the pairs: what content-addressed keys and the plan's data digest cover."""
        import hashlib

        from bench.alignment import canonical_json

        return hashlib.sha256(canonical_json(self.pairs).encode()).hexdigest()


def normalize_text(text: str) -> str:
    return " ".join(text.casefold().split())


def _pair_folders(data_dir: Path) -> list[tuple[Path, set[str]]]:
    """`parallel/<a>-<b>/` folders with their normalised codes; a code that is not a language is an
    error naming the folder (not a folder silently skipped)."""
    root = Path(data_dir) / "parallel"
    if not root.is_dir():
        return []
    return _listed_pair_folders(root, root.stat().st_mtime_ns)  # planning asks ~50,000 times per grid


@functools.lru_cache(maxsize=16)
def _listed_pair_folders(root: Path, mtime_ns: int) -> list[tuple[Path, set[str]]]:
    folders = [p for p in sorted(root.glob("*-*")) if p.is_dir()]
    return [(folder, {language_of(code, folder) for code in folder.name.split("-", 1)}) for folder in folders]


def _pair_dir(data_dir: Path, lang: str, pivot: str) -> Path | None:
    for candidate, codes in _pair_folders(data_dir):
        if codes == {lang, pivot}:
            return candidate
    return None


def parallel_languages(data_dir: Path, pivot: str = PIVOT) -> list[str]:
    """Languages with a `parallel/<xx>-<pivot>/` folder (either order of the codes)."""
    found = set()
    for _, codes in _pair_folders(data_dir):
        if pivot in codes and len(codes) == 2:
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


ANY_LANGUAGE = "*"  # guard key of texts banned whatever their language (fields of a file that failed to parse)


def _filter(pairs: list[tuple[str, str]], banned: dict[str, frozenset[str]], src: str, tgt: str | None) -> tuple[list, int]:
    anywhere = banned.get(ANY_LANGUAGE, frozenset())
    banned_src, banned_tgt = banned.get(src, frozenset()), banned.get(tgt, frozenset()) if tgt else frozenset()

    def clean(text: str, own: frozenset[str]) -> bool:
        normal = normalize_text(text)
        return normal not in own and normal not in anywhere

    kept = [(a, b) for a, b in pairs if clean(a, banned_src) and (tgt is None or clean(b, banned_tgt))]
    return kept, len(pairs) - len(kept)


def parallel_sentences(data_dir: Path, lang: str, max_pairs: int, banned: dict[str, set[str]], pivot: str = PIVOT) -> TextPairs:
    folder = _pair_dir(data_dir, lang, pivot)
    if folder is None:
        raise FileNotFoundError(f"no parallel data for {lang}-{pivot} under {Path(data_dir) / 'parallel'}")
    found = _read_parallel_dir(folder, lang, pivot)
    pairs, sources = interleave([p for p, _ in found]), [s for _, s in found]
    kept, dropped = _filter(pairs, banned, lang, pivot)
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
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise DataFormatError(path, number, f"expected 'word<TAB>translation', got {line!r}")
        if fields[0] not in test_words:
            pairs.append((fields[0], fields[1]))
    kept, dropped = _filter(pairs, banned, lang, pivot)
    kept = list(dict.fromkeys(kept))[:max_pairs]
    return TextPairs(tuple(kept), (path.name,), dropped, {"excluded_test_words": len(test_words)})


def monolingual_sentences(data_dir: Path, lang: str, max_sentences: int, banned: dict[str, set[str]]) -> TextPairs:
    """Unpaired sentences in `lang`, returned as (sentence, sentence) pairs for a uniform type."""
    groups, sources = [], []
    if lang == PIVOT:
        for folder, codes in _pair_folders(data_dir):
            others = sorted(codes - {PIVOT})
            for file_pairs, source in _read_parallel_dir(folder, others[0], PIVOT) if others else []:
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
    kept, dropped = _filter([(t, t) for t in unique], banned, lang, None)
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


GUARD_CACHE_VERSION = "1"


@functools.cache
def evaluation_texts(data_dir: Path, registry, cache_dir: Path | None = None) -> dict[str, frozenset[str]]:
    """Normalised evaluation texts of every registered task, by language: the leakage guard.

    Every task of the registry counts, not only a grid's, so a fitted map never depends on which tasks
    a grid lists. A task whose files fail to parse is guarded by every tab-separated field of every
    line of its files, in any language: a malformed test file must not let its items into training.
    With `cache_dir`, the sets are kept on disk under a key of the guard files' content, the tasks'
    code and this module's code (`guard/<key>.json`), so a later run reads them instead of parsing
    every evaluation file again.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "guard" / f"{_guard_key(Path(data_dir), registry)}.json"
        cached = _read_guard(path)
        if cached is not None:
            return cached
    merged: dict[str, set[str]] = {}
    for name, entry in sorted(registry.tasks.items()):
        task = entry.cls()
        try:
            found = task.evaluation_texts(Path(data_dir))
        except FileNotFoundError:
            continue  # the data root lacks this task's folder: it has no evaluation items to guard
        except DataFormatError:
            found = {ANY_LANGUAGE: _raw_fields(task_files(task, Path(data_dir)))}
        for lang, texts in found.items():
            merged.setdefault(lang, set()).update(normalize_text(t) for t in texts)
    result = {lang: frozenset(texts) for lang, texts in merged.items()}
    if path is not None:
        _write_guard(path, result)
    return result


def _guard_key(data_dir: Path, registry) -> str:
    import hashlib

    from bench.provenance import class_source_digest, file_digest, files_digest

    parts = [GUARD_CACHE_VERSION, file_digest(Path(__file__)), files_digest(guard_files(data_dir, registry), data_dir)]
    parts += [f"{name}={class_source_digest(entry.cls)}" for name, entry in sorted(registry.tasks.items())]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _read_guard(path: Path) -> dict[str, frozenset[str]] | None:
    import json
    import logging

    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(lang): frozenset(texts) for lang, texts in data["texts"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        logging.getLogger("alignbench").warning("leakage guard cache: discarding unreadable %s (%s); recomputing",
                                                path, type(error).__name__)
        path.unlink(missing_ok=True)
        return None


def _write_guard(path: Path, texts: dict[str, frozenset[str]]) -> None:
    import json
    import os
    import uuid

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps({"texts": {lang: sorted(t) for lang, t in sorted(texts.items())}}, ensure_ascii=False),
                   encoding="utf-8")
    os.replace(tmp, path)


def _raw_fields(files: list[Path]) -> set[str]:
    fields: set[str] = set()
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields.update(field for field in line.split("\t") if field.strip())
    return fields


def task_files(task, data_dir: Path) -> list[Path]:
    """Every data file of a task, over all the languages it finds."""
    try:
        languages = task.languages(data_dir)
    except FileNotFoundError:
        return []
    return sorted({path for lang in languages for path in task.data_files(data_dir, lang)})


@functools.cache
def guard_files(data_dir: Path, registry) -> tuple[Path, ...]:
    """The files the leakage guard reads: a change to any of them may change every anchor set."""
    return tuple(sorted({path for entry in registry.tasks.values() for path in task_files(entry.cls(), Path(data_dir))}))


def _parallel_files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if p.is_file() and not EXCLUDED_PARALLEL.search(p.name)]


def anchor_texts(resource: Resource, data_dir: Path, lang: str, budget: int, banned) -> TextPairs:
    """The texts behind one anchor request for one language, after the leakage filter."""
    from bench.alignment import MissingResourceError

    try:
        if resource is Resource.PARALLEL_SENTENCES:
            return parallel_sentences(data_dir, lang, budget, banned)
        if resource is Resource.WORD_ALIGNMENTS:  # every sentence pair: the aligner gains from more text;
            return parallel_sentences(data_dir, lang, 10**9, banned)  # the budget applies to word pairs
        if resource is Resource.BILINGUAL_LEXICON:
            return dictionary_pairs(data_dir, lang, budget, banned)
        if resource is Resource.MONOLINGUAL_TEXT:
            return monolingual_sentences(data_dir, lang, budget, banned)
    except FileNotFoundError as error:
        raise MissingResourceError(f"{resource.value} unavailable for {lang}: {error}") from error
    raise MissingResourceError(f"the runner cannot provide {resource.value} yet")


def resource_languages(resource: Resource, data_dir: Path) -> tuple[str, ...]:
    """Every non-pivot language the data root has `resource` for (what a Finetuner trains on: one
    checkpoint for all of them, whichever cells a grid lists)."""
    data_dir = Path(data_dir)
    if resource is Resource.BILINGUAL_LEXICON:
        folder = data_dir / "dictionaries" / "muse"
        candidates = {p.name.split("-", 1)[0] for p in folder.glob(f"*-{PIVOT}.txt")} if folder.is_dir() else set()
        candidates = {language_of(code, folder / f"{code}-{PIVOT}.txt") for code in candidates}
    else:
        candidates = set(parallel_languages(data_dir))
    return tuple(sorted(lang for lang in candidates - {PIVOT} if resource_files(resource, data_dir, lang)))


def resource_files(resource: Resource, data_dir: Path, lang: str) -> list[Path]:
    """Every file the runner may read to provide `resource` for `lang` (by name; nothing is parsed).
    Empty when the data has none: the cell is then not applicable."""
    data_dir = Path(data_dir)
    if resource in (Resource.PARALLEL_SENTENCES, Resource.WORD_ALIGNMENTS):
        folder = _pair_dir(data_dir, lang, PIVOT)
        return _parallel_files(folder) if folder is not None else []
    if resource is Resource.BILINGUAL_LEXICON:
        path = data_dir / "dictionaries" / "muse" / f"{lang}-{PIVOT}.txt"
        tests = sorted((data_dir / "dictionaries" / "muse_test_annotated").glob(f"{lang}-{PIVOT}.*.txt"))
        return [path, *tests] if path.is_file() else []
    if resource is Resource.MONOLINGUAL_TEXT:
        if lang == PIVOT:
            return [f for folder, codes in _pair_folders(data_dir) if PIVOT in codes for f in _parallel_files(folder)]
        folder = _pair_dir(data_dir, lang, PIVOT)
        if folder is not None:
            return _parallel_files(folder)
        panx = data_dir / "ner" / "panx" / lang / "train.tsv"
        return [panx] if panx.is_file() else []
    return []
