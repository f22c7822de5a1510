"""User errors through the command line: a clear message naming the file (and line), exit status 2,
no traceback, and no existing result lost."""

import json

import pytest

from bench.cli import main
from tests.helpers import write_fixture_data

GRID = '[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "original"\n[[tasks]]\nname = "tatoeba"\n'


@pytest.fixture
def committed(tmp_path):
    """An output folder that already holds a result, to check that no error path loses it."""
    results = tmp_path / "results" / "results.jsonl"
    results.parent.mkdir(parents=True)
    results.write_text(json.dumps({"cell_id": "kept", "metric": "m", "subset": "", "value": 1.0}) + "\n")
    return results


@pytest.mark.parametrize("grid, message", [
    ('layers = "8"\n', "unknown key"),
    ('[[encoders]]\nname = "toy"\nlayers = "8"\n[[methods]]\nname = "original"\n[[tasks]]\nname = "sts"\n',
     r"encoders\[0\].layers must be a list of integers"),
    ('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "procrustes"\nparams = { max_pairs = "300" }\n'
     '[[tasks]]\nname = "sts"\n', r"methods\[0\]: procrustes: parameter 'max_pairs' must be int, got '300'"),
    ('seeds = ["a"]\n' + GRID, "seeds must be a list of integers"),
    (GRID + '[[methods]]\nname = "original"\n', r"methods\[1\]: original is listed twice"),
    (GRID.replace("layers = [1]", "layers = [-1]"), r"layers must be >= 0"),
    ('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "original"\n[[tasks]]\nname = "tatoeba"\n'
     'params = { limit = -5 }\n', r"tasks\[0\]: tatoeba: parameter 'limit' must be a finite number >= 0, got -5"),
    ('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "procrustes"\nparams = { max_pairs = 3.5 }\n'
     '[[tasks]]\nname = "sts"\n', r"procrustes: parameter 'max_pairs' must be int, got 3.5"),
    ('[[encoders]]\nname = "toy"\nlayers = [1]\n[[methods]]\nname = "fcnn"\nparams = { lr = nan }\n'
     '[[tasks]]\nname = "sts"\n', r"fcnn: parameter 'lr' must be a finite number >= 0, got nan"),
    ("[[encoders]\n", "invalid TOML"),
])
def test_bad_grids_name_the_file_and_key(tmp_path, committed, capsys, grid, message):
    path = tmp_path / "grid.toml"
    path.write_text(grid)
    before = committed.read_bytes()
    code = main(["run", "--grid", str(path), "--data", str(write_fixture_data(tmp_path / "data")), "--out", str(tmp_path),
                 "--no-mlflow", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "grid.toml" in err and "Traceback" not in err, err
    assert __import__("re").search(message, err), err
    assert committed.read_bytes() == before


def test_a_broken_method_file_names_its_line(tmp_path, capsys):
    broken = tmp_path / "mine.py"
    broken.write_text("x = 1\ndef broken(:\n")
    assert main(["methods", "--method-file", str(broken)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}:2: syntax error" in err and "Traceback" not in err
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('no GPU here')\n")
    assert main(["methods", "--method-file", str(raising)]) == 2
    err = capsys.readouterr().err
    assert str(raising) in err and "no GPU here" in err and "Traceback" not in err


def test_leaderboard_refuses_a_missing_or_malformed_results_file(tmp_path, capsys):
    out = tmp_path / "board"
    out.mkdir()
    (out / "README.md").write_text("committed\n")
    assert main(["leaderboard", "--results", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2
    assert "no results file" in capsys.readouterr().err and (out / "README.md").read_text() == "committed\n"
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"cell_id": "a", "metric": "m"}\n{}\n{"cell_id": "b", "metric": "m"}\n')
    assert main(["leaderboard", "--results", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: row without the required field 'cell_id'" in err and "Traceback" not in err


def test_grid_languages_that_match_nothing_are_an_error(tmp_path, capsys):
    path = tmp_path / "grid.toml"
    path.write_text('languages = ["xx"]\n' + GRID.replace('"toy"\nlayers = [1]', '"use-m3-offline"\nlayers = [0]'))
    code = main(["run", "--grid", str(path), "--data", str(write_fixture_data(tmp_path / "data")), "--out", str(tmp_path),
                 "--no-mlflow", "--no-progress"])
    assert code == 2 and "languages ['xx'] match no task's data" in capsys.readouterr().err


def test_run_exits_1_after_the_whole_grid_when_a_cell_failed_and_files_keep_the_umask(tmp_path, capsys):
    import os
    import stat

    data = write_fixture_data(tmp_path / "data")
    sts = data / "sts" / "sts2017" / "STS.input.track5.en-en.txt"
    sts.write_text(sts.read_text().replace("\t0.5\n", "\tnan\n"))
    path = tmp_path / "grid.toml"
    path.write_text(GRID.replace('"toy"\nlayers = [1]', '"use-m3-offline"\nlayers = [0]') + '[[tasks]]\nname = "sts"\n')
    command = ["run", "--grid", str(path), "--data", str(data), "--out", str(tmp_path), "--cache", str(tmp_path / "cache"),
               "--no-mlflow", "--no-progress"]
    previous = os.umask(0o022)
    try:
        assert main(command) == 1  # the STS cell failed; the Tatoeba cells still ran
        err = capsys.readouterr().err
        assert "STS.input.track5.en-en.txt:2" in err and "Traceback" not in err
        results = tmp_path / "results" / "results.jsonl"
        assert {json.loads(line)["task"] for line in results.read_text().splitlines()} == {"tatoeba"}
        assert stat.S_IMODE(results.stat().st_mode) == 0o644
        sts.write_text(sts.read_text().replace("\tnan\n", "\t0.5\n"))
        assert main(command) == 0
        assert main(["prune", "--grid", str(path), "--data", str(data), "--out", str(tmp_path),
                     "--cache", str(tmp_path / "cache")]) == 0  # rewrites the files atomically
        assert stat.S_IMODE(results.stat().st_mode) == 0o644
    finally:
        os.umask(previous)
