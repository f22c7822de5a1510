"""Compare categories (and methods) like for like, with intervals and paired tests from per-item results.

The question: at one encoder and layer, which of the survey's categories (a)-(f) does best on each
task? Rules, in order:

1. Rows: main metrics of the tasks (and of CBLI/BLI, the word-retrieval columns of Table 1) at that
   encoder label and layer; other set-ups (independent encoders: another encoder label; synthetic data)
   never mix in. A method's training seeds are pooled with its head seeds (`pool_training_seeds`).
2. Languages: those `original` covers on the task; a method that lacks one of them is not compared on
   that task (listed as partial), so every compared score is a macro average over the same languages.
3. Per category, the best method by that macro average (ties broken by name).
4. Intervals and tests (bench.stats.macro_bootstrap): items resampled within each language (and subset)
   column, seeds within each side; Δ versus `original` on the same items; every category's best against
   the winner's. Each family of p-values (Δ versus original; versus the winner) is corrected with
   Benjamini-Hochberg over the whole table. A category whose difference from the winner is not
   significant (adjusted p >= ALPHA) is tied with it.

Bootstraps are cached by content in results/intervals.jsonl (key: item files, which are themselves
content-addressed, plus resampling settings), so re-rendering the leaderboard recomputes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from bench.items import ItemStore
from bench.results import locked_append
from bench.specs import Category
from bench.stats import PairedDifference, Stratum, adjust, common_items, macro_bootstrap

ALPHA = 0.05
N_RESAMPLES = 1000
TABLE1_WORD_TASKS = ("cbli", "bli")  # diagnostics by kind, but the paper's columns: compared like tasks
CATEGORIES = (Category.A, Category.B, Category.C, Category.D, Category.E, Category.F)
CONTROL = "original"


@dataclass(frozen=True)
class TaskSetup:
    task: str
    metric: str
    protocol: str
    task_version: str
    higher_is_better: bool
    languages: tuple[str, ...]  # those original covers: every compared method covers all of them

    @property
    def key(self) -> str:
        return f"{self.task} {self.metric}"


@dataclass(frozen=True)
class Comparison:
    """One method on one task: its macro score with interval, and Δ versus original (None for original)."""

    method: str
    category: str
    setup: TaskSetup
    score: PairedDifference  # the score's own interval (b empty)
    vs_original: PairedDifference | None
    p_adjusted: float | None = None  # Benjamini-Hochberg over every method x task of the table


@dataclass(frozen=True)
class CategoryCell:
    category: Category
    setup: TaskSetup
    best: Comparison | None  # None: no runnable method of the category covers this task's languages
    vs_winner: PairedDifference | None = None  # best minus the winner's best (None for the winner)
    winner_p_adjusted: float | None = None
    partial: tuple[str, ...] = ()  # methods of the category skipped for lacking some of the languages

    @property
    def is_winner(self) -> bool:
        return self.best is not None and self.vs_winner is None

    @property
    def tied_with_winner(self) -> bool:
        return self.winner_p_adjusted is not None and self.winner_p_adjusted >= ALPHA


class IntervalCache:
    """Append-only JSON lines: content key -> PairedDifference fields."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path else None
        self._known = self._read(self.path) if self.path and self.path.is_file() else {}
        self.computed = 0

    @staticmethod
    def _read(path: Path) -> dict:
        known = {}
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
                known[entry["key"]] = entry["value"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                if number == len(lines):  # a torn last append: that interval is computed again
                    break
                raise ValueError(f"{path}:{number}: not an interval entry ({error}); delete the file to recompute") from None
        return known

    def get_or_compute(self, key: str, compute) -> PairedDifference:
        if key in self._known:
            return PairedDifference(**self._known[key])
        result = compute()
        self.computed += 1
        self._known[key] = asdict(result)
        if self.path is not None:
            locked_append(self.path, [json.dumps({"key": key, "value": asdict(result)}, sort_keys=True)])
        return result


def _pool(rows: list[dict]) -> list[dict]:
    from bench.leaderboard import pool_training_seeds  # one pooling rule for the page and the comparison

    return pool_training_seeds(rows)


def comparable_rows(rows: list[dict], encoder: str, layer: int) -> list[dict]:
    """Main-metric rows at that encoder and layer that have per-item results (rows written before a task
    recorded items cannot be resampled and are left out until their cells re-run)."""
    return _pool([r for r in rows if r.get("is_main") and not r["metric"].startswith("baseline_") and r.get("items")
                  and r["encoder"] == encoder and r["layer"] == layer
                  and (r.get("kind", "task") == "task" or r["task"] in TABLE1_WORD_TASKS)])


def setups(rows: list[dict]) -> list[TaskSetup]:
    """One per (task, metric, protocol, version) that original has results for."""
    out = {}
    for r in rows:
        if r["method_label"] != CONTROL:
            continue
        key = (r["task"], r["metric"], r["protocol"], str(r["task_version"]))
        out.setdefault(key, (bool(r.get("higher_is_better", True)), set()))[1].add(r["language"])
    return [TaskSetup(*key, higher, tuple(sorted(langs))) for key, (higher, langs) in sorted(out.items())]


class _Items:
    """Loads each row's per-item file once."""

    def __init__(self, results_dir: Path):
        self.store = ItemStore(results_dir)
        self._files: dict[str, dict] = {}

    def of(self, row: dict):
        name = row.get("items") or ""
        if not name:
            raise FileNotFoundError(f"{row['method_label']} {row['task']} {row['language']}: the row has no per-item "
                                    "results (re-run the cell with this version of the harness)")
        if name not in self._files:
            self._files[name] = self.store.load(name)
        return self._files[name][(row["metric"], row.get("subset") or "")]


def _columns(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(language, subset) -> the rows (one per seed) of one method on one task."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(rows, key=lambda r: str(r["seed"])):
        out.setdefault((r["language"], r.get("subset") or ""), []).append(r)
    return out


def _strata(a_rows: list[dict], b_rows: list[dict] | None, items: _Items) -> tuple[list[Stratum], str]:
    a_cols = _columns(a_rows)
    b_cols = _columns(b_rows) if b_rows is not None else None
    strata, names = [], []
    for column in sorted(a_cols):
        a = [items.of(r) for r in a_cols[column]]
        names += [r["items"] for r in a_cols[column]]
        b: list = []
        if b_cols is not None:
            b = [items.of(r) for r in b_cols[column]]
            names += ["|"] + [r["items"] for r in b_cols[column]]
            shared = [common_items(x, b[0]) for x in a]  # every seed scores the same items: pair on the first
            a = [x for x, _ in shared]
            b = [common_items(a[0], y)[1] for y in b]
        strata.append(Stratum(column[0], tuple(a), tuple(b)))
        names.append(";")
    return strata, hashlib.sha256("\0".join(names).encode()).hexdigest()


def _bootstrap(cache: IntervalCache, a_rows, b_rows, items: _Items, metric: str, n_resamples: int) -> PairedDifference:
    strata, digest = _strata(a_rows, b_rows, items)
    key = hashlib.sha256(json.dumps({"items": digest, "metric": metric, "n": n_resamples, "level": 0.95,
                                     "method": "macro-stratified-bootstrap-v1"}).encode()).hexdigest()
    return cache.get_or_compute(key, lambda: macro_bootstrap(strata, n_resamples=n_resamples))


def _signed(setup: TaskSetup, d: PairedDifference) -> float:
    return d.delta if setup.higher_is_better else -d.delta


def compare_methods(rows: list[dict], results_dir: Path, encoder: str, layer: int,
                    n_resamples: int = N_RESAMPLES, cache: IntervalCache | None = None) -> list[Comparison]:
    """Every method (original included) on every task original has, over original's languages."""
    rows = comparable_rows(rows, encoder, layer)
    items, cache = _Items(results_dir), cache or IntervalCache(Path(results_dir) / "intervals.jsonl")
    out = []
    for setup in setups(rows):
        on_task = [r for r in rows if (r["task"], r["metric"], r["protocol"], str(r["task_version"]))
                   == (setup.task, setup.metric, setup.protocol, setup.task_version) and r["language"] in setup.languages]
        by_method: dict[str, list[dict]] = {}
        for r in on_task:
            by_method.setdefault(r["method_label"], []).append(r)
        original = by_method.get(CONTROL, [])
        for method, method_rows in sorted(by_method.items()):
            if {r["language"] for r in method_rows} != set(setup.languages):
                continue
            score = _bootstrap(cache, method_rows, None, items, setup.metric, n_resamples)
            delta = None if method == CONTROL else _bootstrap(cache, method_rows, original, items, setup.metric, n_resamples)
            out.append(Comparison(method, method_rows[0]["category"], setup, score, delta))
    adjusted = adjust([c.vs_original.p_value for c in out if c.vs_original is not None])
    it = iter(adjusted)
    return [Comparison(c.method, c.category, c.setup, c.score, c.vs_original,
                       float(next(it)) if c.vs_original is not None else None) for c in out]


@dataclass(frozen=True)
class CellInterval:
    """One method on one task column (language, subset) at one encoder and layer."""

    method: str
    encoder: str
    layer: int
    task: str
    metric: str
    language: str
    subset: str
    score: PairedDifference
    vs_original: PairedDifference | None
    p_adjusted: float | None = None


def per_column(rows: list[dict], results_dir: Path, n_resamples: int = N_RESAMPLES,
               cache: IntervalCache | None = None) -> list[CellInterval]:
    """Every (method, encoder, layer, task, language, subset) with per-item results: the score's 95% CI
    (items and seeds resampled) and the paired difference from original on the same items, with
    Benjamini-Hochberg over all of them. Main metrics of tasks and of CBLI/BLI; synthetic data excluded."""
    rows = _pool([r for r in rows if r.get("is_main") and not r["metric"].startswith("baseline_") and r.get("items")
                  and (r.get("kind", "task") == "task" or r["task"] in TABLE1_WORD_TASKS)])
    items, cache = _Items(results_dir), cache or IntervalCache(Path(results_dir) / "intervals.jsonl")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["method_label"], r["encoder"], r["layer"], r["task"], r["metric"], r["protocol"], str(r["task_version"]),
               r["language"], r.get("subset") or "")
        groups.setdefault(key, []).append(r)
    out = []
    for key, group in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        method, encoder, layer, task, metric, protocol, version, language, subset = key
        score = _bootstrap(cache, group, None, items, metric, n_resamples)
        control = groups.get((CONTROL,) + key[1:])
        delta = None
        if control is not None and method != CONTROL:
            delta = _bootstrap(cache, group, control, items, metric, n_resamples)
        out.append(CellInterval(method, encoder, layer, task, metric, language, subset, score, delta))
    adjusted = iter(adjust([c.vs_original.p_value for c in out if c.vs_original is not None]))
    return [CellInterval(**{**c.__dict__, "p_adjusted": float(next(adjusted)) if c.vs_original is not None else None})
            for c in out]


def partial_methods(rows: list[dict], encoder: str, layer: int) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(task, metric) -> (method, category) that have results on some but not all of original's languages."""
    rows = comparable_rows(rows, encoder, layer)
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for setup in setups(rows):
        langs: dict[tuple[str, str], set] = {}
        for r in rows:
            if (r["task"], r["metric"], r["protocol"], str(r["task_version"])) == (
                    setup.task, setup.metric, setup.protocol, setup.task_version):
                langs.setdefault((r["method_label"], r["category"]), set()).add(r["language"])
        out[(setup.task, setup.metric)] = sorted(m for m, ls in langs.items() if not set(setup.languages) <= ls)
    return out


def compare_categories(rows: list[dict], results_dir: Path, encoder: str, layer: int,
                       n_resamples: int = N_RESAMPLES, cache: IntervalCache | None = None,
                       methods: list[Comparison] | None = None) -> list[CategoryCell]:
    """Per task and category (a)-(f): the best method, its Δ versus original, and its test against the winner."""
    cache = cache or IntervalCache(Path(results_dir) / "intervals.jsonl")
    methods = methods if methods is not None else compare_methods(rows, results_dir, encoder, layer, n_resamples, cache)
    partial = partial_methods(rows, encoder, layer)
    pooled = comparable_rows(rows, encoder, layer)
    items = _Items(results_dir)
    cells: list[CategoryCell] = []
    for setup in sorted({c.setup for c in methods}, key=lambda s: s.key):
        ranked = sorted((c for c in methods if c.setup == setup), key=lambda c: (-_signed(setup, c.score), c.method))
        best = {cat: next((c for c in ranked if c.category == cat.value), None) for cat in CATEGORIES}
        present = [c for c in best.values() if c is not None]
        winner = min(present, key=lambda c: (-_signed(setup, c.score), c.method)) if present else None

        def rows_of(method: str) -> list[dict]:
            return [r for r in pooled if r["method_label"] == method and (r["task"], r["metric"], r["protocol"],
                    str(r["task_version"])) == (setup.task, setup.metric, setup.protocol, setup.task_version)
                    and r["language"] in setup.languages]

        for cat in CATEGORIES:
            c = best[cat]
            skipped = tuple(m for m, category in partial.get((setup.task, setup.metric), []) if category == cat.value)
            versus = None
            if c is not None and winner is not None and c.method != winner.method:
                versus = _bootstrap(cache, rows_of(c.method), rows_of(winner.method), items, setup.metric, n_resamples)
            cells.append(CategoryCell(cat, setup, c, versus, partial=skipped))
    adjusted = iter(adjust([c.vs_winner.p_value for c in cells if c.vs_winner is not None]))
    return [CategoryCell(c.category, c.setup, c.best, c.vs_winner,
                         float(next(adjusted)) if c.vs_winner is not None else None, c.partial) for c in cells]


@dataclass(frozen=True)
class CategoryPair:
    """The best method of one category minus the best of another, on one task (same items)."""

    setup: TaskSetup
    first: Category
    second: Category
    difference: PairedDifference
    p_adjusted: float | None = None


def category_pairs(rows: list[dict], results_dir: Path, encoder: str, layer: int, cells: list[CategoryCell],
                   n_resamples: int = N_RESAMPLES, cache: IntervalCache | None = None) -> list[CategoryPair]:
    """Every pair of categories that both have a best method on a task: paired bootstrap of the
    difference, Benjamini-Hochberg over all pairs of all tasks."""
    cache = cache or IntervalCache(Path(results_dir) / "intervals.jsonl")
    pooled, items = comparable_rows(rows, encoder, layer), _Items(results_dir)
    out = []
    for setup in sorted({c.setup for c in cells}, key=lambda s: s.key):
        best = [c for c in cells if c.setup == setup and c.best is not None]

        def rows_of(method: str) -> list[dict]:
            return [r for r in pooled if r["method_label"] == method and (r["task"], r["metric"], r["protocol"],
                    str(r["task_version"])) == (setup.task, setup.metric, setup.protocol, setup.task_version)
                    and r["language"] in setup.languages]

        for i, a in enumerate(best):
            for b in best[i + 1:]:
                d = _bootstrap(cache, rows_of(a.best.method), rows_of(b.best.method), items, setup.metric, n_resamples)
                out.append(CategoryPair(setup, a.category, b.category, d))
    adjusted = iter(adjust([p.difference.p_value for p in out]))
    return [CategoryPair(p.setup, p.first, p.second, p.difference, float(next(adjusted))) for p in out]


def pairs_table(pairs: list[CategoryPair]) -> pd.DataFrame:
    """Tasks x category pairs: "Δ [95% CI]" of the first category's best minus the second's, * when significant."""
    table: dict[str, dict[str, str]] = {}
    for p in pairs:
        d = p.difference
        table.setdefault(p.setup.key, {})[f"{p.first.value} − {p.second.value}"] = (
            f"{d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]{_mark(p.p_adjusted)}")
    frame = pd.DataFrame.from_dict(table, orient="index").rename_axis("task")
    return frame.reindex(sorted(frame.columns), axis=1).fillna("—")


@dataclass(frozen=True)
class MethodPair:
    """One method minus another on one task, over the language (and subset) columns both cover."""

    task: str
    metric: str
    higher_is_better: bool
    first: str
    second: str
    languages: tuple[str, ...]
    difference: PairedDifference
    p_adjusted: float | None = None


def method_pairs(rows: list[dict], results_dir: Path, encoder: str, layer: int, pairs: list[tuple[str, str]],
                 tasks: tuple[str, ...] | None = None, n_resamples: int = N_RESAMPLES,
                 cache: IntervalCache | None = None) -> list[MethodPair]:
    """Each (first, second) on every task (or those in `tasks`) both have results for: first minus second on
    the same items of the columns both cover (paired stratified bootstrap), Benjamini-Hochberg over all
    pairs and tasks. A label with no comparable rows is a clear error naming the labels there are."""
    pooled = comparable_rows(rows, encoder, layer)
    known = {r["method_label"] for r in pooled}
    unknown = sorted({m for pair in pairs for m in pair} - known)
    if unknown:
        raise KeyError(f"no rows with per-item results at encoder {encoder!r}, layer {layer} for {unknown}; "
                       f"methods there: {sorted(known)}")
    groups: dict[tuple, list[dict]] = {}
    for r in pooled:
        if tasks is None or r["task"] in tasks:
            groups.setdefault((r["method_label"], r["task"], r["metric"], r["protocol"], str(r["task_version"])), []).append(r)
    items, cache = _Items(results_dir), cache or IntervalCache(Path(results_dir) / "intervals.jsonl")
    setups_ = sorted({key[1:] for key in groups})
    out = []
    for first, second in pairs:
        for setup in setups_:
            a, b = groups.get((first,) + setup, []), groups.get((second,) + setup, [])
            shared = {(r["language"], r.get("subset") or "") for r in a} & {(r["language"], r.get("subset") or "") for r in b}
            if not shared:
                continue
            a = [r for r in a if (r["language"], r.get("subset") or "") in shared]
            b = [r for r in b if (r["language"], r.get("subset") or "") in shared]
            d = _bootstrap(cache, a, b, items, setup[1], n_resamples)
            out.append(MethodPair(setup[0], setup[1], bool(a[0].get("higher_is_better", True)), first, second,
                                  tuple(sorted({lang for lang, _ in shared})), d))
    adjusted = iter(adjust([p.difference.p_value for p in out]))
    return [MethodPair(**{**p.__dict__, "p_adjusted": float(next(adjusted))}) for p in out]


def method_pairs_table(pairs: list[MethodPair]) -> pd.DataFrame:
    """Pairs x tasks: "Δ [95% CI] (n langs)" of first minus second, * when significant after BH."""
    table: dict[str, dict[str, str]] = {}
    for p in pairs:
        d = p.difference
        column = f"{p.task} {p.metric} {'↑' if p.higher_is_better else '↓'}"
        table.setdefault(f"{p.first} − {p.second}", {})[column] = (
            f"{d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]{_mark(p.p_adjusted)} ({len(p.languages)})")
    frame = pd.DataFrame.from_dict(table, orient="index").rename_axis("first − second")
    return frame.reindex(sorted(frame.columns), axis=1).fillna("—")


def _mark(p_adjusted: float | None) -> str:
    return "*" if p_adjusted is not None and p_adjusted < ALPHA else ""


def category_legend() -> str:
    return (f"Per task, the best method of each category at one encoder and layer, on the languages original covers "
            f"(every compared method covers all of them): score [95% CI] and Δ versus original [95% CI]; * = the "
            f"difference is significant after Benjamini-Hochberg over the table (adjusted p < {ALPHA}); the winner "
            f"is marked ▲, a category not significantly different from it ≈; 'no runnable method' = the category has "
            f"no method with results on all those languages (rows without per-item results count as missing). "
            f"Stratified paired bootstrap over items "
            f"({N_RESAMPLES} resamples, seeds resampled too).")


def comparison_table(cells: list[CategoryCell]) -> pd.DataFrame:
    """Categories x tasks, one text cell each (what `alignbench compare-categories` prints)."""
    table: dict[str, dict[str, str]] = {}
    for cell in cells:
        row = f"({cell.category.value}) {cell.category.description}"
        column = f"{cell.setup.key} {'↑' if cell.setup.higher_is_better else '↓'} ({len(cell.setup.languages)} langs)"
        if cell.best is None:
            text = "no runnable method" + (f" ({len(cell.partial)} with only some languages)" if cell.partial else "")
        else:
            b = cell.best
            text = f"{b.method} {b.score.delta:.1f} [{b.score.low:.1f}, {b.score.high:.1f}]"
            if b.vs_original is not None:
                d = b.vs_original
                text += f" Δ {d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]{_mark(b.p_adjusted)}"
            if cell.is_winner:
                text = "▲ " + text
            elif cell.tied_with_winner:
                text = "≈ " + text
        table.setdefault(row, {})[column] = text
    return pd.DataFrame.from_dict(table, orient="index").sort_index().rename_axis("category")


def methods_table(methods: list[Comparison]) -> pd.DataFrame:
    """Methods x tasks: Δ versus original [95% CI] with the BH mark (the per-method significance view)."""
    table: dict[tuple[str, str], dict[str, str]] = {}
    for c in methods:
        if c.vs_original is None:
            text = f"{c.score.delta:.1f} [{c.score.low:.1f}, {c.score.high:.1f}]"
        else:
            d = c.vs_original
            text = f"{d.delta:+.1f} [{d.low:+.1f}, {d.high:+.1f}]{_mark(c.p_adjusted)}"
        table.setdefault((c.method, c.category), {})[c.setup.key] = text
    frame = pd.DataFrame.from_dict(table, orient="index").sort_index()
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["method", "category"])
    return frame.fillna("—")


def default_setup(rows: list[dict]) -> tuple[str, int] | None:
    """The (encoder, layer) with the most main-metric rows of original: the comparison's default."""
    counts: dict[tuple[str, int], int] = {}
    for r in rows:
        if r["method_label"] == CONTROL and r.get("is_main"):
            counts[(r["encoder"], r["layer"])] = counts.get((r["encoder"], r["layer"]), 0) + 1
    return max(counts, key=lambda k: (counts[k], -k[1])) if counts else None
