import filecmp
from pathlib import Path

from bench.leaderboard import MISSING, aggregate, render, task_tables
from bench.results import ResultStore, read_jsonl
from tests.conftest import REPO


def _row(method, lang, value, seed=0, task="tatoeba", category="a", cell=None):
    return {"cell_id": cell or f"{method}-{task}-{lang}-{seed}", "method_label": method, "category": category,
            "encoder": "e5", "layer": 8, "task": task, "protocol": "p", "task_version": "1", "metric": "m",
            "language": lang, "subset": "", "value": value, "seed": seed, "n": 10, "is_main": True, "kind": "task"}


ROWS = [_row("procrustes", "de", 90.0, 0), _row("procrustes", "de", 92.0, 1), _row("procrustes", "zh", 70.0, 0),
        _row("procrustes", "zh", 72.0, 1), _row("original", "de", 80.0, 0, category="control"),
        _row("original", "de", 80.0, 1, category="control")]


def test_seeds_are_averaged_and_missing_cells_are_not_zero(tmp_path):
    table = task_tables(aggregate(ROWS))["tatoeba (m; p v1)"]
    assert table.loc[("procrustes", "a", "e5", 8), "de"] == "91.0 ± 1.4"
    assert table.loc[("original", "control", "e5", 8), "zh"] == MISSING
    render(ROWS, [], tmp_path)
    overview = (tmp_path / "README.md").read_text()
    assert "81.0" in overview  # procrustes macro average of 91 and 71
    assert "80.0 (1/2)" in overview  # original covers one of two languages
    assert "| 0.0" not in overview


def test_rendering_is_deterministic(tmp_path):
    render(ROWS, [], tmp_path / "a")
    render(list(reversed(ROWS)), [], tmp_path / "b")
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not comparison.diff_files and not comparison.left_only
    html = (tmp_path / "a" / "index.html").read_text()
    assert html.startswith("<!doctype html>") and "<table" in html and "http" not in html


def test_failed_cells_are_listed(tmp_path):
    error = {"cell_id": "x", "method_label": "procrustes", "task": "tatoeba", "language": "hi", "layer": 8,
             "error_type": "MissingResourceError"}
    render(ROWS, [error], tmp_path)
    assert "MissingResourceError" in (tmp_path / "README.md").read_text()


def test_committed_leaderboard_is_up_to_date(tmp_path):
    results = REPO / "results" / "results.jsonl"
    assert results.is_file(), "results/results.jsonl is committed with the default grid's results"
    store = ResultStore(results.parent)
    errors = read_jsonl(store.errors_path) if store.errors_path.exists() else []
    render(store.rows(), errors, tmp_path)
    committed = REPO / "leaderboard"
    for path in sorted(tmp_path.iterdir()):
        assert (committed / path.name).read_text() == path.read_text(), f"leaderboard/{path.name} is stale: run `alignbench leaderboard`"
