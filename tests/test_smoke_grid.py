"""The real end-to-end path: CLI, offline model, real data, MLflow, leaderboard, resume."""

import re
import sqlite3

import pytest

from bench.cli import main
from bench.results import read_jsonl
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_smoke_grid_end_to_end_and_second_run_skips_everything(tmp_path, data_dir, cache_root, capfd):
    args = ["run", "--grid", str(REPO / "grids" / "smoke.toml"), "--data", str(data_dir), "--out", str(tmp_path),
            "--cache", str(cache_root), "--no-progress"]
    assert main(args) == 0
    captured = capfd.readouterr()
    first = captured.out
    # --no-progress: no bar and no MLflow chatter anywhere (ours, weight loading, database set-up)
    assert "it/s" not in captured.err and "INFO" not in captured.err, captured.err
    assert re.search(r"12 cells planned, 0 already done, 0 not applicable, 12 run, 0 failed", first), first
    rows = read_jsonl(tmp_path / "results" / "results.jsonl")
    main_rows = [r for r in rows if r["is_main"]]
    assert {r["task"] for r in main_rows} == {"tatoeba", "sts"}
    assert {r["method"] for r in main_rows} == {"original", "procrustes", "normalization"}
    assert all(0 <= r["value"] <= 100 for r in rows if r["task"] == "tatoeba")
    assert (tmp_path / "leaderboard" / "README.md").is_file() and (tmp_path / "leaderboard" / "index.html").is_file()
    with sqlite3.connect(tmp_path / "results" / "mlflow.db") as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 13  # parent + 12 cells

    assert main(args) == 0
    second = capfd.readouterr().out
    assert "12 already done, 0 not applicable, 0 run" in second and "encoder ran 0 times" in second
    assert len(read_jsonl(tmp_path / "results" / "results.jsonl")) == len(rows)


def test_cli_errors_are_clear(tmp_path, capfd):
    assert main(["run", "--grid", str(tmp_path / "nope.toml"), "--data", str(tmp_path)]) == 2
    assert "nope.toml does not exist" in capfd.readouterr().err
    assert main(["methods"]) == 0
    listing = capfd.readouterr().out
    assert re.search(r"^procrustes\s+\(a\)", listing, re.M) and re.search(r"^normalization\s+\(d\)", listing, re.M)
