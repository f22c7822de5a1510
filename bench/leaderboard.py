"""Leaderboard views from results rows. One `aggregate()` feeds every table.

Rules: only main-metric rows count; rows are compared within one (task, protocol, task version);
seeds are averaged (mean +- sd; a method's runs that differ only in its `seed` parameter are pooled
under one label, `pool_training_seeds`); task averages are macro averages over the languages a method
covers (a language's subsets, such as STS17's two es-en tracks, are averaged first), shown with their
coverage in languages; missing cells show as "—", never as 0.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from bench.page import FAILED, NOT_APPLICABLE, Board, Section, fmt, page_html, page_markdown, to_markdown
from bench.specs import DROP_METRIC, Category, clean_metric

MISSING = "—"
_ROW_KEYS = ["method_label", "category", "encoder", "layer"]


def pool_training_seeds(rows: list[dict]) -> list[dict]:
    """One label for the runs of a method that differ only in its own `seed` parameter (a Finetuner's
    training seed, a GAN's initialisation): `joint-align[seed=1]` joins `joint-align`, and the row's
    `seed` becomes "<method seed>/<task seed>", so mean +- sd spans training and head seeds alike."""
    pooled = []
    for row in rows:
        params = row.get("method_params") or {}
        if "seed" in params:
            pooled.append({**row, "method_label": _without_seed(row["method_label"]), "seed": f"{params['seed']}/{row['seed']}"})
        else:
            pooled.append({**row, "seed": str(row["seed"])})
    return pooled


def _without_seed(label: str) -> str:
    name, bracket, rest = label.partition("[")
    if not bracket or not rest.endswith("]"):
        return label
    kept = [item for item in rest[:-1].split(",") if not item.startswith("seed=")]
    return f"{name}[{','.join(kept)}]" if kept else name


def aggregate(rows: list[dict], kind: str = "task", all_metrics: bool = False) -> pd.DataFrame:
    """Scores averaged over seeds: one row per (method, encoder, layer, task, metric, column). Only main
    metrics unless `all_metrics`; only rows of `kind` ("task" or "diagnostic")."""
    columns = _ROW_KEYS + ["task", "protocol", "task_version", "metric", "language", "column", "mean", "sd", "seeds", "n"]
    main = [r for r in rows if (all_metrics or r.get("is_main")) and r.get("kind", "task") == kind
            and not r["metric"].startswith("baseline_")]
    if not main:
        return pd.DataFrame(columns=columns)
    frame = _with_columns(pd.DataFrame(main))
    keys = _ROW_KEYS + ["task", "protocol", "task_version", "metric", "language", "column"]
    grouped = frame.groupby(keys, sort=True).agg(mean=("value", "mean"), sd=("value", "std"), seeds=("seed", "nunique"),
                                                   n=("n", "max")).reset_index()
    grouped["sd"] = grouped["sd"].fillna(0.0)
    return grouped[columns]


def _with_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`column`: a row's test column, its language plus its subset if any ("de (sts17-track1)")."""
    frame["subset"] = frame.get("subset", "").fillna("")
    frame["column"] = frame["language"] + frame["subset"].map(lambda s: f" ({s})" if s else "")
    return frame


def macro(part: pd.DataFrame, value: str = "mean") -> float:
    """Macro average over languages; a language's subsets (columns) are averaged first."""
    return float(part.groupby("language")[value].mean().mean())


def _coverage(part: pd.DataFrame, expected: int) -> str:
    covered = part["language"].nunique()
    return f" ({covered}/{expected})" if covered < expected else ""


def _fmt(mean: float, sd: float, seeds: int) -> str:
    return f"{mean:.1f} ± {sd:.1f}" if seeds > 1 else f"{mean:.1f}"


def _task_key(row) -> str:
    return f"{row['task']} ({row['metric']}; {row['protocol']} v{row['task_version']})"


def task_tables(agg: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per task: methods x languages."""
    tables = {}
    if agg.empty:
        return tables
    agg = agg.assign(task_key=agg.apply(_task_key, axis=1), cell=[_fmt(m, s, k) for m, s, k in zip(agg["mean"], agg["sd"], agg["seeds"])])
    for task_key, part in agg.groupby("task_key", sort=True):
        table = part.pivot_table(index=_ROW_KEYS, columns="column", values="cell", aggfunc="first")
        means = {idx: macro(group) for idx, group in part.groupby(_ROW_KEYS)}
        table["avg"] = [f"{means[idx]:.1f}" for idx in table.index]
        tables[task_key] = table.fillna(MISSING).sort_index()
    return tables


def overview(agg: pd.DataFrame) -> pd.DataFrame:
    """Methods x tasks: macro average over the columns each covers, with coverage when incomplete."""
    if agg.empty:
        return pd.DataFrame()
    agg = agg.assign(task_key=agg["task"] + " " + agg["metric"])
    expected = agg.groupby("task_key")["language"].nunique()
    cells = {}
    for key, part in agg.groupby(_ROW_KEYS + ["task_key"], sort=True):
        idx, task_key = tuple(key[:-1]), key[-1]
        cells.setdefault(idx, {})[task_key] = f"{macro(part):.1f}" + _coverage(part, expected[task_key])
    table = pd.DataFrame.from_dict(cells, orient="index").sort_index()
    table.index = pd.MultiIndex.from_tuples(table.index, names=_ROW_KEYS)
    return table.reindex(sorted(table.columns), axis=1).fillna(MISSING)


def category_table(agg: pd.DataFrame) -> pd.DataFrame:
    """Categories x tasks: mean of the method averages in that category, and the best method."""
    if agg.empty:
        return pd.DataFrame()
    per_method = agg.groupby(_ROW_KEYS + ["task", "metric"])["mean"].mean().reset_index()
    per_method["task_key"] = per_method["task"] + " " + per_method["metric"]
    out = {}
    for (category, task_key), part in per_method.groupby(["category", "task_key"], sort=True):
        best = part.sort_values(["mean", "method_label"], ascending=[False, True]).iloc[0]
        label = f"{Category(category).value}: {Category(category).description}"
        out.setdefault(label, {})[task_key] = f"{part['mean'].mean():.1f} (best {best['method_label']} L{best['layer']} {best['mean']:.1f})"
    return pd.DataFrame.from_dict(out, orient="index").sort_index().fillna(MISSING)


TABLE1_TASKS = ("rfeval", "tatoeba", "cbli", "align", "bli")  # the paper's four columns, then BLI
_TABLE1_GROUPS = {"control": (0, "baseline"), "a": (1, "supervised (a)"), "b": (2, "unsupervised (b)"),
                  "d": (3, "anchor-free adjustment (d)")}


def table1(rows: list[dict]) -> dict[str, pd.DataFrame]:
    """Zhao & Eger (2022) Table 1 layout, per encoder and layer: methods grouped supervised / unsupervised,
    columns RFEval, Tatoeba, CBLI, Align and BLI (main metrics, macro-averaged over languages, coverage shown)."""
    parts = [part for part in (aggregate(rows, kind="task"), aggregate(rows, kind="diagnostic")) if not part.empty]
    if not parts:
        return {}
    agg = pd.concat(parts)
    agg = agg[agg["task"].isin(TABLE1_TASKS)]
    tables = {}
    for (encoder, layer), part in agg.groupby(["encoder", "layer"], sort=True):
        expected = part.groupby("task")["language"].nunique()
        cells: dict[tuple, dict] = {}
        for (label, category, task), group in part.groupby(["method_label", "category", "task"], sort=True):
            order, group_name = _TABLE1_GROUPS.get(category, (4, f"other ({category})"))
            value = f"{macro(group):.1f}" + _coverage(group, expected[task])
            cells.setdefault((order, group_name, label), {})[task] = value
        keys = sorted(cells)
        table = pd.DataFrame([cells[key] for key in keys],
                             index=pd.MultiIndex.from_tuples([key[1:] for key in keys], names=["group", "method"]))
        tables[f"{encoder} L{layer}"] = table.reindex([t for t in TABLE1_TASKS if t in table.columns], axis=1).fillna(MISSING)
    return tables


def diagnostics_table(rows: list[dict]) -> pd.DataFrame:
    """Methods x diagnostic metrics: macro average over languages (seeds averaged first); the column name
    says which way is better."""
    agg = aggregate(rows, kind="diagnostic", all_metrics=True)
    if agg.empty:
        return pd.DataFrame()
    direction = {(r["task"], r["metric"]): "↑" if r.get("higher_is_better", True) else "↓"
                 for r in rows if r.get("kind") == "diagnostic"}
    agg = agg.assign(key=[f"{t} {m} {direction[(t, m)]}" for t, m in zip(agg["task"], agg["metric"])])
    table = agg.groupby(_ROW_KEYS + ["key"])["mean"].mean().unstack("key")
    counts = agg.groupby(_ROW_KEYS + ["key"])["column"].nunique().unstack("key")
    expected = agg.groupby("key")["column"].nunique()
    out = table.copy().astype(object)
    for key in table.columns:
        out[key] = [MISSING if pd.isna(v) else f"{v:.1f}" + (f" ({int(c)}/{expected[key]})" if c < expected[key] else "")
                    for v, c in zip(table[key], counts[key].fillna(0))]
    return out.sort_index()


def _pair_language(language: str) -> str | None:
    """The non-English side of a task's language key ("de", "de-en", "en-de" -> "de"; "es-es" -> None)."""
    parts = language.split("-")
    if len(parts) == 1:
        return None if parts[0] == "en" else parts[0]
    others = [p for p in parts if p != "en"]
    return others[0] if len(others) == 1 and len(parts) == 2 else None


def _pearson(a: pd.Series, b: pd.Series) -> float | None:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return None  # a constant side has no correlation
    return float(a.corr(b))


def correlation_table(rows: list[dict], min_points: int = 5) -> pd.DataFrame:
    """Pearson r between each diagnostic metric and each task's main metric across finished cells, matched
    on (method, encoder, layer, language); seeds and test subsets are averaged first (cf. Zhao & Eger
    2022, Fig. 4). Cells show "pooled / within-language (n points)": pooled correlates the raw values,
    within-language first subtracts each language's mean on both sides, so that differences between
    languages (which no method causes) do not drive it. Fewer than `min_points` matches: missing."""
    def points(kind: str, all_metrics: bool) -> pd.DataFrame:
        agg = aggregate(rows, kind=kind, all_metrics=all_metrics)
        if agg.empty:
            return agg
        agg = agg.assign(lang=agg["column"].str.split(" ").str[0].map(_pair_language)).dropna(subset=["lang"])
        return agg.groupby(["method_label", "encoder", "layer", "lang", "task", "metric"])["mean"].mean().reset_index()

    diagnostics, tasks = points("diagnostic", True), points("task", False)
    if diagnostics.empty or tasks.empty:
        return pd.DataFrame()
    keys = ["method_label", "encoder", "layer", "lang"]
    out: dict[str, dict[str, str]] = {}
    for (d_task, d_metric), d_part in diagnostics.groupby(["task", "metric"]):
        for (t_task, t_metric), t_part in tasks.groupby(["task", "metric"]):
            merged = d_part.merge(t_part, on=keys, suffixes=("_d", "_t"))
            pooled = _pearson(merged["mean_d"], merged["mean_t"]) if len(merged) >= min_points else None
            by_lang = merged.groupby("lang")[["mean_d", "mean_t"]].transform("mean")
            within = (_pearson(merged["mean_d"] - by_lang["mean_d"], merged["mean_t"] - by_lang["mean_t"])
                      if len(merged) >= min_points else None)
            value = MISSING if pooled is None else (
                f"{pooled:+.2f} / {MISSING if within is None else f'{within:+.2f}'} ({len(merged)})")
            out.setdefault(f"{d_task} {d_metric}", {})[f"{t_task} {t_metric}"] = value
    return pd.DataFrame.from_dict(out, orient="index").sort_index().rename_axis("diagnostic")


_DIAGNOSTICS_NOTE = ("Properties of the aligned space itself (kind = diagnostic), macro-averaged over languages; "
                     "↑ / ↓ = higher / lower is better. Percentages x100 except svg (a sum of squared log "
                     "singular-value differences) and partition_ratio (a ratio in [0, 1]).")
_TABLE1_NOTE = ("Laid out like Zhao & Eger (2022) Table 1: methods grouped by supervision, main metric of RFEval "
                "(Pearson), Tatoeba (P@1), CBLI (P@1), Align (F1; its languages are those with gold alignments) and BLI "
                "(P@1), macro-averaged over the languages each covers "
                "((k/n) = coverage). Our encoder, layer and data, not the paper's numbers.")
_SYNTHETIC_NOTE = ("SYNTHETIC DATA (kind = synthetic): simulated Gaussian word clusters, no real language and no "
                   "encoder; a controlled check of the methods (Zhao & Eger 2022, §4.3), kept out of every average above.")
_CORRELATION_NOTE = ("Pearson r between a diagnostic and a task's main metric over every (method, encoder, layer, "
                     "language) that has both, as pooled / within-language (each language's mean removed from both "
                     "sides first, so differences between languages do not drive it); (n) = number of points. "
                     "Also: `alignbench compare-diagnostics`.")


def _markdown(table: pd.DataFrame) -> str:
    return table.reset_index().to_markdown(index=False) if not table.empty else "_no results_"


def _html_table(table: pd.DataFrame) -> str:
    return table.reset_index().to_html(index=False, escape=True, border=0, classes="board") if not table.empty else "<p>no results</p>"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.split(" ")[0]).strip("-")


_CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table.board{border-collapse:collapse;margin:1rem 0}
.board th,.board td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}.board th{background:#f3f3f3}
.board td:first-child,.board td:nth-child(2){text-align:left}h2{margin-top:2rem}"""


_TRANSFER_NOTE = ("Main metric; macro average over test sets, mean ± sd over seeds. The baseline is each task's own "
                  "(most frequent tag per word form, adjacent attachment, majority class), computed on the same test items.")


_NOT_APPLICABLE_NOTE = ("Cells the grid lists that cannot run with this encoder, method and data (decided from what "
                        "they declare they need and the files found); they are not failures and never run.")


def not_applicable_table(entries: list[dict]) -> pd.DataFrame:
    """Planned cells that cannot run (counted by method, task and reason); they are never executed."""
    if not entries:
        return pd.DataFrame()
    frame = pd.DataFrame(entries)
    table = frame.groupby(["method_label", "task", "reason"]).agg(
        cells=("cell_id", "count"), languages=("language", lambda s: " ".join(sorted(set(s))))).reset_index()
    return table.rename(columns={"method_label": "method"}).sort_values(["method", "task", "reason"])


WEIGHT_CHANGING = frozenset({"c", "e", "f"})  # plus any row whose method trained a checkpoint (an online (d) method)


def _family(row: dict) -> str:
    if row["category"] == "control":
        return "control"
    trained = isinstance(row.get("anchors"), dict) and "checkpoint" in row["anchors"]
    return "weight-changing" if trained or row["category"] in WEIGHT_CHANGING else "offline map"


def weight_changing_table(rows: list[dict]) -> pd.DataFrame:
    """Each weight-changing method (a checkpoint, or an encoder of category c/e/f) against `original`
    and the best offline map, per encoder, layer and task (protocol and version), on the same test columns: "score ± sd (Δ original /
    Δ best map)". The score is the macro average over the languages the method covers (subsets of a
    language averaged first); sd is over the method's seeds (training and head seeds pooled) of that
    macro average; original and the maps are averaged over the same languages (a map that misses one is
    not a candidate for best). Tasks and the
    word-retrieval diagnostics of Table 1 (CBLI, BLI); every main metric here is higher-is-better."""
    main = [r for r in rows if r.get("is_main") and not r["metric"].startswith("baseline_")
            and (r.get("kind", "task") == "task" or r["task"] in TABLE1_TASKS)]  # CBLI and BLI are diagnostics
    if not main:
        return pd.DataFrame()
    frame = pd.DataFrame(main)
    frame["family"] = [_family(r) for r in main]
    if not (frame["family"] == "weight-changing").any():
        return pd.DataFrame()
    frame = _with_columns(frame)
    frame["task_key"] = (frame["task"] + " " + frame["metric"] + " (" + frame["protocol"] + " v"
                         + frame["task_version"].astype(str) + ")")
    per_column = frame.groupby(["family", "method_label", "encoder", "layer", "task_key", "language", "seed"])["value"].mean()
    cells: dict[tuple, dict] = {}
    for (label, encoder, layer, task_key), part in frame[frame["family"] == "weight-changing"].groupby(
            ["method_label", "encoder", "layer", "task_key"], sort=True):
        languages = sorted(set(part["language"]))
        per_seed = part.groupby("seed").apply(lambda g: g.groupby("language")["value"].mean().mean(), include_groups=False)
        score, sd = float(per_seed.mean()), float(per_seed.std()) if len(per_seed) > 1 else 0.0

        def macro(family: str, method: str) -> float | None:
            try:
                values = per_column.loc[(family, method, encoder, layer, task_key)].groupby(level="language").mean()
            except KeyError:
                return None
            return float(values[languages].mean()) if set(languages) <= set(values.index) else None

        original = [macro("control", m) for m in sorted(set(frame.loc[frame["family"] == "control", "method_label"]))]
        original = next((v for v in original if v is not None), None)
        maps = [(macro("offline map", m), m) for m in sorted(set(frame.loc[frame["family"] == "offline map", "method_label"]))]
        maps = [(v, m) for v, m in maps if v is not None]
        best = max(maps, key=lambda item: (item[0], item[1])) if maps else None
        delta = "/".join(f"{score - v:+.1f}" if v is not None else MISSING for v in (original, best[0] if best else None))
        spread = f" ± {sd:.1f}" if len(per_seed) > 1 else ""
        cells.setdefault((label, encoder, f"L{layer}"), {})[task_key] = f"{score:.1f}{spread} ({delta})"
    table = pd.DataFrame.from_dict(cells, orient="index").sort_index()
    table.index = pd.MultiIndex.from_tuples(table.index, names=["method", "encoder", "layer"])
    return table.reindex(sorted(table.columns), axis=1).fillna(MISSING)


_WEIGHT_CHANGING_NOTE = ("Each method that changes the encoder against original and the best offline map of the same task and "
                         "layer, on the same test columns: score ± sd over its seeds (Δ original / Δ best map). Main metric, "
                         "macro average over the languages the method covers.")


def robustness_tables(rows: list[dict]) -> dict[str, pd.DataFrame]:
    """Per noisy-input task (one that reports DROP_METRIC rows) and protocol: method x noisy test column,
    "clean → noisy (drop)", each the mean over seeds (± sd of the drop with several seeds), plus the
    mean drop over the columns a method covers."""
    noisy_tasks = {(r["task"], r["protocol"], r["task_version"]) for r in rows if r["metric"] == DROP_METRIC}
    tables = {}
    for task, protocol, version in sorted(noisy_tasks, key=str):
        part = [r for r in rows if (r["task"], r["protocol"], r["task_version"]) == (task, protocol, version)]
        main = next((r["metric"] for r in part if r.get("is_main")), None)
        if main is None:
            continue
        wanted = {main: "noisy", clean_metric(main): "clean", DROP_METRIC: "drop"}
        frame = _with_columns(pd.DataFrame([r for r in part if r["metric"] in wanted]))
        frame["role"] = frame["metric"].map(wanted)
        stats = frame.groupby(_ROW_KEYS + ["column", "role"])["value"].agg(mean="mean", sd="std", seeds="count").reset_index()
        cells: dict[tuple, dict] = {}
        for (*idx, column), group in stats.groupby(_ROW_KEYS + ["column"], sort=True):
            got = {row.role: row for row in group.itertuples()}
            if "noisy" not in got:
                continue
            if "clean" in got and "drop" in got:
                drop = got["drop"]
                spread = f" ± {drop.sd:.1f}" if drop.seeds > 1 else ""
                text = f"{got['clean'].mean:.1f} → {got['noisy'].mean:.1f} ({-drop.mean:+.1f}{spread})"
            else:
                text = f"? → {got['noisy'].mean:.1f}"
            cells.setdefault(tuple(idx), {})[column] = text
        drops = frame[frame["role"] == "drop"].groupby(_ROW_KEYS + ["column"])["value"].mean().groupby(level=_ROW_KEYS).mean()
        table = pd.DataFrame.from_dict(cells, orient="index").sort_index()
        table.index = pd.MultiIndex.from_tuples(table.index, names=_ROW_KEYS)
        table = table.reindex(sorted(table.columns), axis=1).fillna(MISSING)
        table["mean drop"] = [f"{drops[idx]:.1f}" if idx in drops.index else MISSING for idx in table.index]
        tables[f"{task} ({main}; {protocol} v{version})"] = table
    return tables


_ROBUSTNESS_NOTE = ("Zero-shot transfer under real typos (Stickland et al. 2023): the model trained on clean English, "
                    "scored on the clean test items and on the noisy ones: clean → noisy (change, points; ± sd over "
                    "seeds). A column is the noisy test set (language, noise ratio). The clean score is on the same "
                    "items where their clean twins exist (German XNLI), otherwise on the clean task's test items of "
                    "that language, which are other items (each row's extra.clean_items says which).")


def missing_reasons(errors: list[dict], not_applicable: list[dict], finished: set[str]) -> dict[tuple, str]:
    """(method, encoder, layer, task, language) -> "failed" or "n/a": why a planned cell has no number."""
    reasons = {(e["method_label"], e.get("encoder", ""), e["layer"], e["task"], e["language"]): FAILED
               for e in errors if e["cell_id"] not in finished}
    for e in not_applicable:
        reasons.setdefault((e["method_label"], e.get("encoder", ""), e["layer"], e["task"], e["language"]), NOT_APPLICABLE)
    return reasons


def _directions(rows: list[dict]) -> dict[tuple[str, str], bool]:
    return {(r["task"], r["metric"]): bool(r.get("higher_is_better", True)) for r in rows}


def overview_board(agg: pd.DataFrame, directions: dict) -> Board:
    """Methods x tasks: the macro average over languages († = not all of the task's languages), a coverage
    column (task-languages covered / expected) and a rank (mean rank over the tasks a row has)."""
    if agg.empty:
        return Board(pd.DataFrame())
    agg = agg.assign(task_key=agg["task"] + " " + agg["metric"])
    expected = agg.groupby("task_key")["language"].nunique()
    values, text, covered = {}, {}, {}
    for key, part in agg.groupby(_ROW_KEYS + ["task_key"], sort=True):
        idx, task_key = tuple(key[:-1]), key[-1]
        value, n = macro(part), part["language"].nunique()
        values.setdefault(idx, {})[task_key] = value
        text.setdefault(idx, {})[task_key] = fmt(value) + ("†" if n < expected[task_key] else "")
        covered[idx] = covered.get(idx, 0) + n
    total = int(expected.sum())
    index = pd.MultiIndex.from_tuples(sorted(values), names=_ROW_KEYS)
    columns = sorted(expected.index)
    value_frame = pd.DataFrame.from_dict(values, orient="index").reindex(index=index, columns=columns)
    text_frame = pd.DataFrame.from_dict(text, orient="index").reindex(index=index, columns=columns).fillna(MISSING)
    text_frame["coverage"] = [f"{covered[idx]}/{total}" for idx in index]
    higher = {c: directions.get(tuple(c.split(" ", 1)), True) for c in columns}
    return Board(text_frame, value_frame, higher, rank=True)


def task_boards(agg: pd.DataFrame, directions: dict, reasons: dict) -> dict[str, Board]:
    """Per task: methods x test columns ("mean ± sd" over seeds) and the macro average; a missing cell
    says whether it failed, is not applicable or is not in the grid."""
    boards = {}
    if agg.empty:
        return boards
    agg = agg.assign(task_key=agg.apply(_task_key, axis=1))
    for task_key, part in agg.groupby("task_key", sort=True):
        task, metric = part["task"].iloc[0], part["metric"].iloc[0]
        languages = dict(zip(part["column"], part["language"]))
        values = part.pivot_table(index=_ROW_KEYS, columns="column", values="mean", aggfunc="first")
        text = pd.DataFrame(index=values.index, columns=values.columns, dtype=object)
        cells = {(tuple(r[k] for k in _ROW_KEYS), r["column"]): _fmt(r["mean"], r["sd"], r["seeds"]) for _, r in part.iterrows()}
        for idx in values.index:
            for column in values.columns:
                method, _, encoder, layer = idx
                text.at[idx, column] = cells.get((idx, column)) or reasons.get(
                    (method, encoder, layer, task, languages[column]), MISSING)
        values["avg"] = [macro(group) for _, group in part.groupby(_ROW_KEYS, sort=True)]
        text["avg"] = [fmt(v) for v in values["avg"]]
        higher = directions.get((task, metric), True)
        boards[task_key] = Board(text.sort_index(), values.sort_index(), {c: higher for c in values.columns})
    return boards


def text_board(table: pd.DataFrame) -> Board:
    return Board(table)


def failures_table(errors: list[dict], finished: set[str]) -> pd.DataFrame:
    rows = sorted({(e["method_label"], e["task"], e["language"], e.get("encoder", ""), f"L{e['layer']}", e["error_type"],
                    (e.get("message") or "")[:160]) for e in errors if e["cell_id"] not in finished})
    return pd.DataFrame(rows, columns=["method", "task", "language", "encoder", "layer", "error", "message"])


def _provenance(rows: list[dict]) -> str:
    shas = sorted({r.get("git_sha", "")[:10] for r in rows if r.get("git_sha")})
    versions = sorted({r.get("harness_version", "") for r in rows if r.get("harness_version")})
    finished = max((r.get("finished_at", "") for r in rows), default="")
    return (f"{len(rows)} result rows; harness {', '.join(versions) or 'unknown'}; code {', '.join(shas[-3:]) or 'unknown'}"
            f"{' (+%d older)' % (len(shas) - 3) if len(shas) > 3 else ''}; last cell finished {finished[:19] or 'never'} UTC")


def render(rows: list[dict], errors: list[dict], out_dir: Path, not_applicable: list[dict] = (),
           results_dir: Path | None = None, figures: bool = True) -> list[Path]:
    """Write README.md and one Markdown file per task, index.html (with figures) and a page per method.
    `results_dir` holds the per-item files: without it, the comparisons with intervals are left out."""
    from bench import compare, methodpages, plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = list(rows)
    rows = pool_training_seeds(rows)
    directions = _directions(rows)
    finished = {r["cell_id"] for r in rows}
    reasons = missing_reasons(errors, list(not_applicable), finished)
    agg = aggregate(rows)
    intro = ("Generated by `alignbench leaderboard` from results.jsonl — do not edit by hand. Scores x100; main metric per "
             "task; averages are macro averages over languages († = not all of the task's languages; coverage column); "
             f"`{MISSING}` = not in the grid, `{NOT_APPLICABLE}` = not applicable, `{FAILED}` = failed (listed at the top); "
             "best per column in bold; ↑/↓ = higher/lower is better.")
    failed = failures_table(errors, finished)
    top = "" if failed.empty else "Failed cells (no result): " + "; ".join(
        f"{r.method} {r.task} {r.language} {r.encoder} {r.layer}: {r.error}" for r in failed.itertuples())
    sections: list[Section] = []
    if not failed.empty:
        sections.append(Section("Failed cells", "The latest attempt of these cells failed; they have no result.",
                                Board(failed.set_index("method"))))
    setup = compare.default_setup(raw) if results_dir is not None else None
    methods_cmp, category_cells, column_cells, pairs = [], [], [], []
    if setup is not None:
        cache = compare.IntervalCache(Path(results_dir) / "intervals.jsonl")
        try:
            methods_cmp = compare.compare_methods(raw, results_dir, *setup, cache=cache)
            category_cells = compare.compare_categories(raw, results_dir, *setup, cache=cache, methods=methods_cmp)
            column_cells = compare.per_column(raw, results_dir, cache=cache)
            pairs = compare.category_pairs(raw, results_dir, *setup, category_cells, cache=cache)
        except FileNotFoundError as error:  # rows written before per-item results existed
            sections.append(Section("Category comparison", f"Not shown: {error}."))
    if category_cells:
        figure = plots.category_plot(_category_points(category_cells)) if figures else ""
        sections.append(Section(f"Category comparison ({setup[0]} L{setup[1]})", compare.category_legend(),
                                Board(compare.comparison_table(category_cells)), figure))
        if pairs:
            sections.append(Section(f"Category against category ({setup[0]} L{setup[1]})",
                                    "Best method of the first category minus the best of the second, on the same "
                                    "items and languages: Δ [95% CI]; * = Benjamini-Hochberg adjusted p < 0.05 over "
                                    "every pair of every task.", Board(compare.pairs_table(pairs))))
    sections.append(Section("Overview (method × task)", "Macro average over languages per task (main metric); rank = by "
                            "mean rank over the tasks a row has.", overview_board(agg, directions)))
    if methods_cmp:
        sections.append(Section(f"Every method against original ({setup[0]} L{setup[1]})",
                                "Δ versus original [95% CI], macro over original's languages; * = Benjamini-Hochberg "
                                "adjusted p < 0.05 over this table; original's own row is its score [95% CI].",
                                Board(compare.methods_table(methods_cmp))))
    weight_changing, transfer = weight_changing_table(rows), transfer_table(rows)
    if not weight_changing.empty:
        sections.append(Section("Weight-changing methods against original and the best map", _WEIGHT_CHANGING_NOTE,
                                Board(weight_changing)))
    if not transfer.empty:
        sections.append(Section("Zero-shot transfer (train on the source language, test the others)", _TRANSFER_NOTE,
                                Board(transfer)))
    for key, table in robustness_tables(rows).items():
        sections.append(Section(f"Robustness to real typos: {key}", _ROBUSTNESS_NOTE, Board(table)))
    for key, table in table1(rows).items():
        sections.append(Section(f"Table-1 view ({key})", _TABLE1_NOTE, Board(table)))
    diagnostics, correlations = diagnostics_table(rows), correlation_table(rows)
    if not diagnostics.empty:
        sections.append(Section("Diagnostics (method × diagnostic)", _DIAGNOSTICS_NOTE, Board(diagnostics)))
    if not correlations.empty:
        sections.append(Section("Do diagnostics predict task scores?", _CORRELATION_NOTE, Board(correlations)))
    synthetic = task_boards(aggregate(rows, kind="synthetic"), directions, reasons)
    for key, board in synthetic.items():
        sections.append(Section(f"Synthetic check: {key}", _SYNTHETIC_NOTE, board))
    layers = _layer_points(agg)
    if figures and not layers.empty:
        sections.append(Section("Layer comparison", "Macro average per method at each layer (same encoder).",
                                figure=plots.layer_plot(layers)))
    tasks = task_boards(agg, directions, reasons)
    tasks.update(task_boards(aggregate(rows, kind="diagnostic"), directions, reasons))
    inapplicable = not_applicable_table(list(not_applicable))
    tail = [Section("Not applicable (planned, never run)", _NOT_APPLICABLE_NOTE, Board(inapplicable.set_index("method")))
            ] if not inapplicable.empty else []
    written = []
    links = "\n".join(f"- [{key}]({_slug(key)}.md)" for key in tasks)
    md = page_markdown("alignbench leaderboard", intro, sections + tail) + f"\n## Per task and diagnostic\n\n{links}\n"
    (out_dir / "README.md").write_text(md, encoding="utf-8")
    written.append(out_dir / "README.md")
    for key, board in {**tasks, **synthetic}.items():
        path = out_dir / f"{_slug(key)}.md"
        path.write_text(f"# {key}\n\n{intro}\n\n{to_markdown(board)}\n", encoding="utf-8")
        written.append(path)
    task_sections = [Section("Per task and diagnostic")]
    for key, board in tasks.items():
        heat = ""
        if figures and setup is not None and not key.startswith(_NO_HEATMAP):
            heat = _heatmap(board, setup, key, plots)
        task_sections.append(Section(key, "", board, heat, level=3))
    pages = methodpages.write(raw, out_dir / "methods", methods_cmp, column_cells) if results_dir is not None else []
    method_links = "" if not pages else "<p>Method pages: " + " · ".join(
        f"<a href='methods/{p.name}'>{html.escape(p.stem)}</a>" for p in pages) + "</p>"
    page = page_html("alignbench leaderboard", html.escape(_provenance(raw)) + method_links, sections + task_sections + tail,
                     top=f"<div class='failures'>{html.escape(top)}</div>" if top else "")
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    written.append(out_dir / "index.html")
    return written + pages


_NO_HEATMAP = ("isotropy", "isomorphism", "neutrality")  # diagnostics: a difference from original is not a gain


def _category_points(cells) -> pd.DataFrame:
    points = []
    for c in cells:
        if c.best is None or c.best.vs_original is None:
            continue
        d = c.best.vs_original
        points.append({"task": c.setup.key, "category": c.category.value, "method": c.best.method, "delta": d.delta,
                       "low": d.low, "high": d.high, "winner": c.is_winner, "tied": c.tied_with_winner})
    return pd.DataFrame(points, columns=["task", "category", "method", "delta", "low", "high", "winner", "tied"])


def _layer_points(agg: pd.DataFrame) -> pd.DataFrame:
    """Methods with results at two layers of one encoder: (task, method, x = lower layer, y = higher)."""
    if agg.empty:
        return pd.DataFrame()
    per = {(k[0], k[1], k[2], k[3]): macro(g) for k, g in agg.groupby(["task", "method_label", "encoder", "layer"])}
    layers = sorted({k[3] for k in per})
    if len(layers) < 2:
        return pd.DataFrame()
    low, high = layers[0], layers[-1]
    points = [{"task": t, "method": m, "x": v, "y": per[(t, m, e, high)]} for (t, m, e, l), v in sorted(per.items())
              if l == low and (t, m, e, high) in per]
    frame = pd.DataFrame(points)
    frame.attrs["layers"] = (low, high)
    return frame


def _heatmap(board: Board, setup: tuple[str, int], key: str, plots) -> str:
    """Δ versus original per method and test column at the comparison's encoder and layer."""
    values = board.values
    if values is None or values.empty:
        return ""
    encoder, layer = setup
    at = values[[idx[2] == encoder and idx[3] == layer for idx in values.index]].drop(columns=["avg"], errors="ignore")
    control = [idx for idx in at.index if idx[0] == "original"]
    if not control or len(at) < 2:
        return ""
    deltas = at.drop(index=control) - at.loc[control[0]]
    deltas.index = [idx[0] for idx in deltas.index]
    higher = next(iter(board.higher_is_better.values()), True)
    return plots.delta_heatmap(deltas, f"{key.split(' (')[0]} at {encoder} L{layer}", higher)


def transfer_table(rows: list[dict]) -> pd.DataFrame:
    """Zero-shot transfer summary: the source-language (in-language) score next to the zero-shot average
    over the other languages, and the task's own baseline on both, per (method, task, protocol).

    A task counts as a transfer task when it reports `baseline_<main metric>` rows; seeds are averaged
    first (mean +- sd over seeds of the per-seed macro average).
    """
    main = [r for r in rows if r.get("kind", "task") == "task" and r.get("is_main")]
    if not main:
        return pd.DataFrame()
    mains = {(r["task"], r["protocol"]): r["metric"] for r in main}
    wanted = [r for r in rows if r.get("kind", "task") == "task" and (r["task"], r["protocol"]) in mains
              and r["metric"] in (mains[(r["task"], r["protocol"])], f"baseline_{mains[(r['task'], r['protocol'])]}")]
    frame = pd.DataFrame(wanted)
    frame["baseline"] = frame["metric"].str.startswith("baseline_")
    transfer_tasks = set(frame.loc[frame["baseline"], "task"])
    frame = frame[frame["task"].isin(transfer_tasks)]
    if frame.empty:
        return pd.DataFrame()
    frame["role"] = (frame["language"] == frame["source_language"]).map({True: "in", False: "zero"})
    keys = _ROW_KEYS + ["task", "protocol"]
    per_seed = frame.groupby(keys + ["baseline", "role", "seed"])["value"].mean().reset_index()
    out = {}
    for key, part in per_seed.groupby(keys, sort=True):
        def cell(baseline: bool, role: str) -> str:
            values = part[(part["baseline"] == baseline) & (part["role"] == role)]["value"]
            if values.empty:
                return MISSING
            return _fmt(values.mean(), values.std() if len(values) > 1 else 0.0, len(values))
        languages = frame[(frame[keys] == pd.Series(key, index=keys)).all(axis=1) & (frame["role"] == "zero")]["language"]
        out[key] = {"in-language (source)": cell(False, "in"), "zero-shot avg": cell(False, "zero"),
                    "zero-shot languages": languages.nunique(), "baseline in-language": cell(True, "in"),
                    "baseline zero-shot": cell(True, "zero")}
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=keys)
    return table.sort_index()


def render_results(results: Path, out_dir: Path) -> list[Path]:
    """The leaderboard of a results file as `alignbench leaderboard` writes it: each cell's latest run,
    failures that still hold, and the cells planned as not applicable."""
    from bench.results import ResultStore

    if not Path(results).is_file():
        raise FileNotFoundError(f"no results file {results} (run a grid first, or pass --results)")
    store = ResultStore(Path(results).parent, Path(results))
    return render(store.current_rows(), store.errors(), out_dir, store.not_applicable(), results_dir=Path(results).parent)
