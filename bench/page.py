"""The leaderboard as one self-contained HTML page (and the same sections as Markdown).

A page is a list of `Section`s, each a title, a note and a `Board` (or a figure). A Board keeps the
numbers apart from their display: `values` (floats, NaN where there is none) decide the bold best of
each column and the sort order, `text` is what a reader sees, `higher_is_better` gives every metric
column its ↑ or ↓. Missing cells say why: "—" not in the grid, "n/a" not applicable, "failed" (the
failures are listed at the top). No network at view time: CSS, the sort script and SVG figures are
inline.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

NOT_IN_GRID, NOT_APPLICABLE, FAILED = "—", "n/a", "failed"


@dataclass(frozen=True)
class Board:
    text: pd.DataFrame  # display strings; index = row labels (one or more levels)
    values: pd.DataFrame | None = None  # same shape, floats: bold best per column and sorting
    higher_is_better: dict = field(default_factory=dict)  # column -> bool; absent = not a metric column
    rank: bool = False  # add a rank column (by mean rank over the metric columns a row has)


@dataclass(frozen=True)
class Section:
    title: str
    note: str = ""
    board: Board | None = None
    figure: str = ""  # inline SVG
    level: int = 2

    @property
    def anchor(self) -> str:
        words = "".join(c if c.isalnum() else " " for c in self.title.lower()).split()
        return "-".join(words)[:80]


def fmt(value: float | None, signed: bool = False) -> str:
    """The one number format of the page: one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_IN_GRID
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def arrow(higher_is_better: bool | None) -> str:
    return "" if higher_is_better is None else (" ↑" if higher_is_better else " ↓")


def _best(board: Board) -> dict[str, object]:
    """Column -> index label of its best value (ties: every tied label)."""
    out = {}
    if board.values is None:
        return out
    for column, higher in board.higher_is_better.items():
        if column not in board.values.columns:
            continue
        series = board.values[column].dropna()
        if len(series) < 2:
            continue
        target = series.max() if higher else series.min()
        out[column] = set(series.index[series == target])
    return out


def _ranks(board: Board) -> pd.Series | None:
    if not board.rank or board.values is None:
        return None
    ranks = []
    for column, higher in board.higher_is_better.items():
        if column in board.values.columns:
            ranks.append(board.values[column].rank(ascending=not higher, method="min"))
    if not ranks:
        return None
    return pd.concat(ranks, axis=1).mean(axis=1).rank(method="min")


def markdown_cell(text: object) -> str:
    """A table cell that cannot break the Markdown table or inject HTML."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(board: Board) -> str:
    if board.text.empty:
        return "_no results_"
    frame = board.text.copy()
    ranks = _ranks(board)
    if ranks is not None:
        frame.insert(0, "rank", [fmt_rank(r) for r in ranks.reindex(frame.index)])
    best = _best(board)
    names = [str(n) if n is not None else "" for n in frame.index.names]
    header = names + [f"{c}{arrow(board.higher_is_better.get(c))}" for c in frame.columns]
    lines = ["| " + " | ".join(markdown_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for label, row in frame.iterrows():
        labels = list(label) if isinstance(label, tuple) else [label]
        cells = []
        for column, value in row.items():
            text = markdown_cell(value)
            cells.append(f"**{text}**" if label in best.get(column, ()) else text)
        lines.append("| " + " | ".join([markdown_cell(x) for x in labels] + cells) + " |")
    return "\n".join(lines)


def fmt_rank(rank: float) -> str:
    return NOT_IN_GRID if pd.isna(rank) else str(int(rank))


def to_html(board: Board, table_id: str) -> str:
    if board.text.empty:
        return "<p>no results</p>"
    frame = board.text
    ranks = _ranks(board)
    best = _best(board)
    names = [str(n) if n is not None else "" for n in frame.index.names]
    head = (["<th>rank</th>"] if ranks is not None else []) + [f"<th>{html.escape(n)}</th>" for n in names]
    head += [f"<th class='num'>{html.escape(str(c))}{arrow(board.higher_is_better.get(c))}</th>" for c in frame.columns]
    body = []
    for label, row in frame.iterrows():
        labels = list(label) if isinstance(label, tuple) else [label]
        cells = [f"<td class='num' data-v='{ranks[label]:.0f}'>{fmt_rank(ranks[label])}</td>"] if ranks is not None else []
        cells += [f"<td>{html.escape(str(x))}</td>" for x in labels]
        for column, text in row.items():
            value = board.values.at[label, column] if board.values is not None and column in board.values.columns else None
            data = f" data-v='{float(value)!r}'" if value is not None and not pd.isna(value) else ""
            klass = ("num" if board.values is not None else "text") + (" best" if label in best.get(column, ()) else "") + (
                " missing" if str(text) in (NOT_IN_GRID, NOT_APPLICABLE, FAILED) else "")
            cells.append(f"<td class='{klass}'{data}>{html.escape(str(text))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='board sortable' id='{table_id}'><thead><tr>{''.join(head)}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


_CSS = """body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1400px;color:#222;padding:0 1rem}
nav.toc{columns:3;font-size:.9rem;background:#f7f7f7;padding:.5rem 1rem;border-radius:4px}nav.toc a{display:block}
.scroll{overflow-x:auto;max-width:100%}table.board{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
.board th,.board td{border:1px solid #ddd;padding:.2rem .45rem;white-space:nowrap}.board th{background:#f0f0f0;
cursor:pointer;position:sticky;top:0}.board td.num{text-align:right;font-variant-numeric:tabular-nums}
.board td.text{text-align:left;white-space:normal;min-width:8rem}.board td.best{font-weight:700}.board td.missing{color:#999}.board th[aria-sort]::after{content:" ⇅";color:#888}
.meta{color:#555;font-size:.9rem}.failures{background:#fff4f4;border:1px solid #e0b4b4;padding:.5rem 1rem}
figure{margin:.5rem 0}figure svg{max-width:100%;height:auto}h2{margin-top:2.2rem;border-bottom:1px solid #eee}
.legend{font-size:.85rem;color:#444}"""

# Click a header to sort by it (numbers by data-v, text otherwise); a second click reverses.
_SCRIPT = """document.querySelectorAll('table.sortable').forEach(function(t){
t.querySelectorAll('th').forEach(function(th,i){th.setAttribute('aria-sort','none');th.addEventListener('click',function(){
var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.getAttribute('aria-sort')!=='ascending';
rows.sort(function(x,y){var a=x.cells[i],c=y.cells[i],va=a.dataset.v,vc=c.dataset.v;
if(va!==undefined&&vc!==undefined){return asc?va-vc:vc-va}if(va!==undefined)return -1;if(vc!==undefined)return 1;
return asc?a.textContent.localeCompare(c.textContent):c.textContent.localeCompare(a.textContent)});
t.querySelectorAll('th').forEach(function(h){h.setAttribute('aria-sort','none')});
th.setAttribute('aria-sort',asc?'ascending':'descending');rows.forEach(function(r){b.appendChild(r)})})})});"""


def page_html(title: str, meta: str, sections: list[Section], top: str = "") -> str:
    toc = "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections if s.level == 2)
    parts = [f"<h1>{html.escape(title)}</h1><p class='meta'>{meta}</p>", top, f"<nav class='toc'>{toc}</nav>"]
    for k, s in enumerate(sections):
        parts.append(f"<h{s.level} id='{s.anchor}'>{html.escape(s.title)}</h{s.level}>")
        if s.note:
            parts.append(f"<p class='legend'>{html.escape(s.note)}</p>")
        if s.figure:
            parts.append(f"<figure>{s.figure}</figure>")
        if s.board is not None:
            parts.append(f"<div class='scroll'>{to_html(s.board, f't{k}')}</div>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}<script>{_SCRIPT}</script></body></html>\n")


def page_markdown(title: str, meta: str, sections: list[Section], top: str = "") -> str:
    lines = [f"# {title}", "", meta, ""]
    if top:
        lines += [top, ""]
    for s in sections:
        lines += ["#" * s.level + " " + s.title, ""]
        if s.note:
            lines += [s.note, ""]
        if s.board is not None:
            lines += [to_markdown(s.board), ""]
    return "\n".join(lines)
