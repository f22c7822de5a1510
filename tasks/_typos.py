"""Real-typo test sets (Stickland et al. 2023, `robustness/` in the data root) and the clean/noisy report.

Files are `test_<lang>_typos_<ratio>.<tsv|jsonl>`: the language and the share of perturbed words come
from the name. The noisy tasks (tasks/xnli_typos.py, tasks/ner_typos.py) train exactly as their clean
task, then score three numbers per noisy test set: the noisy score, the clean score of the same
trained model, and the drop (clean - noisy). The clean score is on the same items where their clean
versions exist and can be matched (German XNLI test), otherwise on the language's clean test items of
the clean task, which are other sentences; every row says which (`extra["clean_items"]`).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.languages import language_of
from bench.specs import DROP_METRIC, Score, clean_metric
from bench.textio import DataFormatError, read_lines, split_columns
from tasks._common import subdir

TYPO_FILE = re.compile(r"test_(?P<lang>[A-Za-z-]+)_typos_(?P<ratio>\d+(?:\.\d+)?)\.(?P<ext>tsv|jsonl)")
XNLI_TYPO_LABELS = {"0": "entailment", "1": "neutral", "2": "contradiction"}  # the files' own scheme (SOURCE.md)
PANX_TYPO_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # WikiANN's integer scheme
CLEAN_PREFIX = "clean:"
TWIN_MIN_SIMILARITY = 0.8  # difflib ratio of "premise<TAB>hypothesis"; 5% perturbed words keep ~0.95
TWIN_COMMON_WORD_SHARE = 0.05  # words in more clean rows than this share (and than 50) propose no candidates
TWIN_CANDIDATES = 5


@dataclass(frozen=True)
class TypoFile:
    language: str
    ratio: float
    path: Path

    @property
    def subset(self) -> str:
        return f"typos-{self.ratio:g}"


@functools.cache
def typo_files(data_dir: Path, folder: str, ext: str) -> dict[str, tuple[TypoFile, ...]]:
    """Language -> its noisy test files in `robustness/<folder>/`, by ratio. Other files with the
    extension are an error (a misnamed test set must not be skipped silently)."""
    found: dict[str, list[TypoFile]] = defaultdict(list)
    for path in sorted(subdir(subdir(data_dir, "robustness"), folder).glob(f"*.{ext}")):
        match = TYPO_FILE.fullmatch(path.name)
        if match is None:
            raise DataFormatError(path, None, "name is not test_<lang>_typos_<ratio>." + ext)
        lang = language_of(match["lang"], path)
        found[lang].append(TypoFile(lang, float(match["ratio"]), path))
    return {lang: tuple(sorted(files, key=lambda f: f.ratio)) for lang, files in found.items()}


def _unquote(field: str, path: Path, number: int) -> str:
    if len(field) < 2 or field[0] != "'" or field[-1] != "'":
        raise DataFormatError(path, number, f"field {field[:40]!r} is not wrapped in single quotes")
    text = field[1:-1]
    if not text.strip():
        raise DataFormatError(path, number, "empty premise or hypothesis")
    return text


@functools.lru_cache(maxsize=16)
def read_xnli_typos(path: Path) -> tuple[tuple[str, str, str], ...]:
    """(premise, hypothesis, label name) rows of a noisy XNLI file: header line, quoted fields, integer labels."""
    lines = read_lines(path, "XNLI typo file")
    if lines[0].split("\t") != ["premise", "hypothesis", "label"]:
        raise DataFormatError(path, 1, f"expected the header premise<TAB>hypothesis<TAB>label, got {lines[0][:60]!r}")
    rows = []
    for number, line in enumerate(lines[1:], 2):
        premise, hypothesis, label = split_columns(line, path, number, 3)
        if label not in XNLI_TYPO_LABELS:
            raise DataFormatError(path, number, f"label {label!r} is not one of {sorted(XNLI_TYPO_LABELS)}")
        rows.append((_unquote(premise, path, number), _unquote(hypothesis, path, number), XNLI_TYPO_LABELS[label]))
    if not rows:
        raise DataFormatError(path, None, "no rows after the header")
    return tuple(rows)


@functools.lru_cache(maxsize=16)
def read_panx_typos(path: Path) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """(words, IOB2 tags) of a noisy PAN-X JSON-lines file with integer WikiANN tags."""
    sentences = []
    for number, line in enumerate(read_lines(path, "PAN-X typo file"), 1):
        try:
            record = json.loads(line)
            words, tags = record["tokens"], record["ner_tags"]
        except (ValueError, KeyError, TypeError) as error:
            raise DataFormatError(path, number, f"not a JSON object with tokens and ner_tags ({error})") from None
        if not isinstance(words, list) or not isinstance(tags, list) or not words or len(words) != len(tags):
            raise DataFormatError(path, number, f"tokens and ner_tags must be non-empty lists of one length "
                                                f"({len(words) if isinstance(words, list) else words!r} vs "
                                                f"{len(tags) if isinstance(tags, list) else tags!r})")
        if not all(isinstance(w, str) and w for w in words):
            raise DataFormatError(path, number, "a token is empty or not a string")
        if not all(isinstance(t, int) and 0 <= t < len(PANX_TYPO_TAGS) for t in tags):
            raise DataFormatError(path, number, f"ner_tags must be integers 0-{len(PANX_TYPO_TAGS) - 1} ({PANX_TYPO_TAGS})")
        sentences.append((tuple(words), tuple(PANX_TYPO_TAGS[t] for t in tags)))
    return tuple(sentences)


def match_clean_twins(noisy: tuple[tuple[str, str, str], ...], clean: tuple[tuple[str, str, str], ...]) -> tuple[int | None, ...]:
    """For each noisy (premise, hypothesis, label) row, the index of its clean version, or None.

    A twin has the same label and a difflib similarity of at least TWIN_MIN_SIMILARITY on
    "premise<TAB>hypothesis": the first such row among the TWIN_CANDIDATES clean rows sharing the most
    uncommon words. Each clean row is the twin of at most one noisy row (the most similar)."""
    def text(row):
        return f"{row[0]}\t{row[1]}"

    postings: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(clean):
        for word in set(text(row).split()):
            postings[word].append(index)
    common = max(50, TWIN_COMMON_WORD_SHARE * len(clean))
    best: dict[int, tuple[float, int]] = {}  # clean index -> (similarity, noisy index)
    for n_index, row in enumerate(noisy):
        shared = Counter(i for word in set(text(row).split()) if len(postings.get(word, ())) <= common
                         for i in postings.get(word, ()) if clean[i][2] == row[2])
        for c_index, _ in shared.most_common(TWIN_CANDIDATES):  # difflib is slow: stop at the first twin
            similarity = difflib.SequenceMatcher(None, text(row), text(clean[c_index]), autojunk=False).ratio()
            if similarity >= TWIN_MIN_SIMILARITY:
                if similarity > best.get(c_index, (-1.0, -1))[0]:
                    best[c_index] = (similarity, n_index)
                break
    twins: list[int | None] = [None] * len(noisy)
    for c_index, (_, n_index) in best.items():
        twins[n_index] = c_index
    return tuple(twins)


def robustness_scores(scores: list[Score], noisy: dict[str, TypoFile], main_metric: str, fallback_clean: str,
                      fallback_note: str) -> list[Score]:
    """Turn a clean task's per-subset scores into the noisy report.

    `scores` hold the main metric (and `baseline_<main>`) for every noisy subset (a key of `noisy`, or
    that key + "-paired" for the matched rows), for `clean:<noisy subset>` where the subset has clean
    twins, and for `clean:<fallback_clean>` (the clean task's test items: other items). Returns, per
    noisy subset, the noisy score, `clean_<main>`, the drop (clean - noisy, points) and the baseline."""
    by_subset = {(s.metric, s.subset): s for s in scores}
    out = []
    for subset in sorted({s.subset for s in scores if not s.subset.startswith(CLEAN_PREFIX)}):
        noisy_score = by_subset[(main_metric, subset)]
        source = noisy[subset.removesuffix("-paired")]
        paired = (main_metric, CLEAN_PREFIX + subset) in by_subset
        clean = by_subset.get((main_metric, CLEAN_PREFIX + (subset if paired else fallback_clean)))
        about = {"noise_ratio": source.ratio, "noisy_file": f"robustness/{source.path.parent.name}/{source.path.name}",
                 "clean_items": "the same items, clean (matched twins)" if paired else fallback_note, "paired": paired}
        out.append(Score(main_metric, noisy_score.value, noisy_score.n, subset, {**noisy_score.extra, **about}))
        baseline = by_subset.get((f"baseline_{main_metric}", subset))
        if baseline is not None:
            out.append(Score(baseline.metric, baseline.value, baseline.n, subset, about))
        if clean is not None:
            out.append(Score(clean_metric(main_metric), clean.value, clean.n, subset, {**clean.extra, **about}))
            out.append(Score(DROP_METRIC, clean.value - noisy_score.value, noisy_score.n, subset, about))
    return out
