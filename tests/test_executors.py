"""Ray and submitit executors give exactly the local runner's results (skipped without the extras)."""

import os
from pathlib import Path

import pytest

from bench.executors import FAULT_ENV, RayExecutor, SubmititExecutor
from bench.grid import load_grid
from bench.results import read_jsonl
from bench.runner import Runner, RunOptions
from tests.helpers import TOY_GRID, ToyEncoder, write_fixture_data


def _runner(root: Path, executor=None, data: Path | None = None) -> Runner:
    grid_file = root / "grid.toml"
    root.mkdir(parents=True, exist_ok=True)
    grid_file.write_text(TOY_GRID)
    if data is None:
        data = root / "data"
        if not data.exists():
            write_fixture_data(data)
    options = RunOptions(data_dir=data, out_dir=root / "out", cache_dir=root / "cache", progress=False)
    encoder = ToyEncoder()
    return Runner(load_grid(grid_file), options, lambda name, batch: encoder, executor=executor)


def _results(root: Path) -> list[tuple]:
    rows = read_jsonl(root / "out" / "results.jsonl")
    return sorted((r["cell_id"], r["metric"], r["subset"], r["value"], r["items"]) for r in rows)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    summary = _runner(root).run()
    assert summary.done > 0 and summary.failed == 0
    return root, _results(root)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_local_rows_and_a_rerun_executes_nothing(ray_cluster, local, tmp_path):
    root, expected = local
    summary = _runner(tmp_path, RayExecutor()).run()
    assert summary.failed == 0 and summary.encoder_calls > 0  # the workers encoded
    assert _results(tmp_path) == expected  # same cell ids, values and per-item files
    again = _runner(tmp_path, RayExecutor()).run()
    assert again.done == 0 and again.skipped == summary.done


def test_a_worker_killed_mid_cell_is_retried_without_partial_or_duplicate_rows(ray_cluster, local, tmp_path, monkeypatch):
    root, expected = local
    victim = expected[len(expected) // 2][0]
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(FAULT_ENV, f"{victim}:{marker}")
    summary = _runner(tmp_path, RayExecutor()).run()
    assert marker.exists()  # the worker did die on that cell
    assert summary.failed == 0 and _results(tmp_path) == expected
    assert not list((tmp_path / "cache").rglob("*.tmp*"))  # no half-written cache entry left behind


def test_a_permanently_failing_cell_is_recorded_while_the_others_finish(ray_cluster, tmp_path):
    data = tmp_path / "data"
    write_fixture_data(data)
    german = data / "tatoeba" / "tatoeba.deu-eng.deu"
    german.write_text(german.read_text() + "Ein Satz zu viel.\n")
    summary = _runner(tmp_path, RayExecutor(), data).run()
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert summary.failed == len(errors) == 12 and {(e["task"], e["language"]) for e in errors} == {("tatoeba", "de")}
    assert summary.done > 0 and "tatoeba.deu-eng.eng:5" in errors[0]["message"]


def test_submitit_local_executor_gives_the_local_rows(local, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    root, expected = local
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    summary = _runner(tmp_path, SubmititExecutor(str(tmp_path / "submitit"), cluster="local")).run()
    assert summary.failed == 0 and _results(tmp_path) == expected


def test_an_executor_without_its_extra_says_how_to_install_it(monkeypatch):
    import builtins

    from bench import executors

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(RuntimeError, match=r'pip install -e "\.\[ray\]"'):
        executors._import("ray", "ray")
