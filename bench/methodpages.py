"""One HTML page per method label: its card (the registry's metadata, parameters, fit and training time,
anchor provenance) and its scores against `original` per task, language, encoder and layer."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from bench.page import Board, Section, fmt, page_html


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:120]


def _card(label: str, rows: list[dict], registry) -> pd.DataFrame:
    first = rows[0]
    name = first.get("method") or label.split("[")[0]
    entry = registry.methods.get(name)
    spec = entry.spec if entry is not None else None
    fits = {}  # one fit per (encoder, layer, language): every task of it reuses the map
    for r in rows:
        fits[(r["encoder"], r["layer"], r["language"], r["seed"])] = max(fits.get((r["encoder"], r["layer"], r["language"], r["seed"]), 0.0),
                                                                        float(r.get("fit_seconds") or 0.0))
    provenance = {}
    for r in rows:
        for key, value in (r.get("anchors") or {}).items():
            if isinstance(value, dict) and "n" in value:
                provenance[key] = f"{value['n']} pairs from {', '.join(value.get('sources', []))}"
            elif key == "training" and isinstance(value, dict):
                provenance["training"] = (f"{value.get('examples', '?')} examples, {value.get('steps', '?')} steps; "
                                          f"{value.get('optimizer', '')}; {value.get('selection', '')}")
            elif key == "checkpoint":
                provenance["checkpoint"] = str(value)
    fields = {"method": name, "label": label, "category": first["category"],
              "version": str(first.get("method_version", "")), "origin": first.get("method_origin", ""),
              "parameters": json.dumps(first.get("method_params") or {}, sort_keys=True),
              "fit / training time": f"{sum(fits.values()):.0f} s over {len(fits)} fits (max {max(fits.values(), default=0):.0f} s)"}
    if spec is not None:
        fields.update({"citation": spec.citation, "signal": spec.signal.value, "level": spec.level.value,
                       "mode": spec.mode.value, "word alignment": spec.word_alignment.value,
                       "uses": ", ".join(sorted(r.value for r in spec.supervision)) or "nothing",
                       "summary": spec.summary})
    for key in sorted(provenance)[:12]:
        fields[f"anchors: {key}"] = provenance[key]
    return pd.DataFrame({"value": fields}).rename_axis("field")


def _scores(label: str, rows: list[dict], control: list[dict]) -> pd.DataFrame:
    """(task, metric, encoder, layer) x language: "score (Δ original)", seeds averaged."""
    def means(subset: list[dict]) -> dict:
        out: dict[tuple, list[float]] = {}
        for r in subset:
            out.setdefault((r["task"], r["metric"], r["encoder"], r["layer"], r["language"]), []).append(r["value"])
        return {k: sum(v) / len(v) for k, v in out.items()}

    own, base = means(rows), means(control)
    table: dict[tuple, dict] = {}
    for (task, metric, encoder, layer, lang), value in sorted(own.items()):
        reference = base.get((task, metric, encoder, layer, lang))
        text = fmt(value) + (f" ({fmt(value - reference, signed=True)})" if reference is not None and label != "original" else "")
        table.setdefault((task, metric, encoder, f"L{layer}"), {})[lang] = text
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["task", "metric", "encoder", "layer"])
    return frame.reindex(sorted(frame.columns), axis=1).fillna("—")


def _intervals(label: str, cells: list) -> pd.DataFrame:
    """Per task column: score [95% CI] and Δ original [95% CI] with the BH mark (bench.compare.per_column)."""
    mine = [c for c in cells if c.method == label]
    if not mine:
        return pd.DataFrame()
    table = {}
    for c in mine:
        text = f"{fmt(c.score.delta)} [{fmt(c.score.low)}, {fmt(c.score.high)}]"
        if c.vs_original is not None:
            d = c.vs_original
            mark = "*" if c.p_adjusted is not None and c.p_adjusted < 0.05 else ""
            text += f" Δ {fmt(d.delta, True)} [{fmt(d.low, True)}, {fmt(d.high, True)}]{mark}"
        column = c.language + (f" ({c.subset})" if c.subset else "")
        table.setdefault((c.task, c.metric, c.encoder, f"L{c.layer}"), {})[column] = text
    frame = pd.DataFrame.from_dict(table, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["task", "metric", "encoder", "layer"])
    return frame.reindex(sorted(frame.columns), axis=1).fillna("—")


def write(raw_rows: list[dict], folder: Path, comparisons: list, cells: list = ()) -> list[Path]:
    from bench.leaderboard import pool_training_seeds
    from bench.registry import load_registry

    registry = load_registry(())
    rows = [r for r in pool_training_seeds(raw_rows) if r.get("is_main") and not r["metric"].startswith("baseline_")]
    by_label: dict[str, list[dict]] = {}
    for r in rows:
        by_label.setdefault(r["method_label"], []).append(r)
    control = by_label.get("original", [])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.html"):
        stale.unlink()
    written = []
    for label, own in sorted(by_label.items()):
        sections = [Section("Card", "", Board(_card(label, own, registry))),
                    Section("Scores per language", "Main metric, mean over seeds; (Δ original) on the same task, "
                            "language, encoder and layer.", Board(_scores(label, own, control)))]
        mine = [c for c in comparisons if c.method == label and c.vs_original is not None]
        if mine:
            frame = pd.DataFrame([{"task": c.setup.key, "languages": len(c.setup.languages), "score": fmt(c.score.delta),
                                   "Δ original": fmt(c.vs_original.delta, signed=True),
                                   "95% CI": f"[{fmt(c.vs_original.low, True)}, {fmt(c.vs_original.high, True)}]",
                                   "BH-adjusted p": f"{c.p_adjusted:.3g}"} for c in mine]).set_index("task")
            sections.append(Section("Against original, with intervals", "Macro over original's languages at the "
                                    "comparison's encoder and layer (see the main page).", Board(frame)))
        intervals = _intervals(label, list(cells))
        if not intervals.empty:
            sections.append(Section("Per language, with intervals", "Score [95% CI] and Δ original [95% CI] on the "
                                    "same items (items and seeds resampled); * = Benjamini-Hochberg adjusted p < 0.05 "
                                    "over every method x task x language of the leaderboard.", Board(intervals)))
        path = folder / f"{_slug(label)}.html"
        meta = f"<a href='../index.html'>← leaderboard</a> · {html.escape(own[0]['category'])}"
        path.write_text(page_html(f"alignbench: {label}", meta, sections), encoding="utf-8")
        written.append(path)
    return written
