"""Inline SVG figures for the leaderboard page (matplotlib, Agg backend, no timestamps so a re-render of
the same results gives the same bytes)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "alignbench", "svg.fonttype": "none", "font.size": 8})
    return plt


def to_svg(fig) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: the SVG sits inside HTML


def delta_heatmap(deltas: pd.DataFrame, title: str, higher_is_better: bool = True) -> str:
    """Methods (rows) x test columns: score minus original's, blue = better than original."""
    plt = _pyplot()
    values = deltas.to_numpy(dtype=float)
    signed = values if higher_is_better else -values
    limit = np.nanmax(np.abs(signed)) if np.isfinite(signed).any() else 1.0
    limit = max(limit, 1e-9)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * deltas.shape[1], 0.8 + 0.22 * deltas.shape[0]))
    ax.imshow(np.ma.masked_invalid(signed), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(deltas.shape[1]), [str(c) for c in deltas.columns], rotation=45, ha="right")
    ax.set_yticks(range(deltas.shape[0]), [str(i) for i in deltas.index])
    for (r, c), v in np.ndenumerate(values):
        if math.isfinite(v):
            ax.text(c, r, f"{v:+.1f}", ha="center", va="center", fontsize=6,
                    color="white" if abs(signed[r, c]) > 0.6 * limit else "black")
    ax.set_title(title + (" (Δ vs original; blue = better)" if higher_is_better else " (Δ vs original; lower is better, blue = better)"))
    return to_svg(fig)


def category_plot(points: pd.DataFrame) -> str:
    """One panel per task: each category's best method, Δ versus original with its 95% CI.
    `points` columns: task, category, method, delta, low, high, winner (bool), tied (bool)."""
    if points.empty:
        return ""
    plt = _pyplot()
    tasks = list(dict.fromkeys(points["task"]))
    columns = min(4, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.1 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        part = points[points["task"] == task].reset_index(drop=True)
        y = np.arange(len(part))[::-1]
        for k, row in part.iterrows():
            color = "#1f6feb" if row["winner"] else ("#6a9be8" if row["tied"] else "#888888")
            ax.errorbar(row["delta"], y[k], xerr=[[row["delta"] - row["low"]], [row["high"] - row["delta"]]], fmt="o",
                        color=color, ecolor=color, capsize=2, markersize=4)
        ax.axvline(0, color="#cc3333", linewidth=0.8)
        ax.set_yticks(y, [f"({c}) {m[:22]}" for c, m in zip(part["category"], part["method"])])
        ax.set_title(task)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle("Best method per category: Δ vs original, 95% CI (blue = winner, light blue = tied with it)")
    fig.tight_layout()
    return to_svg(fig)


def layer_plot(points: pd.DataFrame) -> str:
    """Per task: each method's macro score at the lower layer (x) against the higher one (y).
    `points` columns: task, method, x, y; attrs['layers'] = (lower, higher)."""
    if points.empty:
        return ""
    plt = _pyplot()
    low, high = points.attrs.get("layers", ("lower", "higher"))
    tasks = list(dict.fromkeys(points["task"]))
    columns = min(5, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.5 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        part = points[points["task"] == task]
        ax.scatter(part["x"], part["y"], s=10, color="#1f6feb")
        lo, hi = float(min(part["x"].min(), part["y"].min())), float(max(part["x"].max(), part["y"].max()))
        ax.plot([lo, hi], [lo, hi], color="#999", linewidth=0.8)
        ax.set_title(task)
        ax.set_xlabel(f"layer {low}")
        ax.set_ylabel(f"layer {high}")
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    fig.suptitle(f"Layer {low} vs layer {high}: one point per method (above the line = better at layer {high})")
    fig.tight_layout()
    return to_svg(fig)
