"""`--exact`: one thread for torch and BLAS, one text per forward pass, its own cache folder."""

import argparse

import pytest
import torch
from threadpoolctl import threadpool_info

from bench.cli import _runner
from bench.grid import load_grid
from bench.runner import Runner, RunOptions, cpu_threads
from tests.helpers import TOY_GRID, ToyEncoder, write_fixture_data


def test_exact_options_mean_one_thread_and_batches_of_one(tmp_path):
    options = RunOptions(tmp_path, tmp_path, tmp_path, exact=True)
    assert options.threads == 1 and options.batch_size(64) == 1
    assert RunOptions(tmp_path, tmp_path, tmp_path).batch_size(64) == 64
    with pytest.raises(ValueError, match="one thread"):
        RunOptions(tmp_path, tmp_path, tmp_path, threads=2, exact=True)


def test_cpu_threads_limits_torch_and_blas_inside_and_restores_outside():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
        blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before


def test_an_exact_run_asks_the_factory_for_batches_of_one(tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(TOY_GRID)
    write_fixture_data(tmp_path / "data")
    asked = []
    encoder = ToyEncoder()

    def factory(name, batch_size):
        asked.append(batch_size)
        return encoder

    options = RunOptions(tmp_path / "data", tmp_path / "out", tmp_path / "cache", progress=False, exact=True)
    summary = Runner(load_grid(grid_file), options, factory).run()
    assert summary.done > 0 and summary.failed == 0
    assert asked and set(asked) == {1}


def test_the_cli_gives_an_exact_run_its_own_cache_folder(tmp_path):
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(TOY_GRID)
    args = argparse.Namespace(method_file=[], grid=str(grid_file), out=str(tmp_path), cache=str(tmp_path / "cache"),
                              data=str(tmp_path), tracking_uri=None, no_progress=True, threads=None, exact=True,
                              executor="local")
    assert _runner(args, tracking=False).options.cache_dir == (tmp_path / "cache" / "exact").resolve()
    args.exact = False
    assert _runner(args, tracking=False).options.cache_dir == (tmp_path / "cache").resolve()
