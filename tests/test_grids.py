"""Every shipped grid file loads and validates against the registry (names, parameters, layers)."""

from pathlib import Path

import pytest

from bench.grid import load_grid
from tests.conftest import REPO


@pytest.mark.parametrize("path", sorted((REPO / "grids").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_grid_is_valid(path: Path):
    spec = load_grid(path)
    assert spec.encoders and spec.methods and spec.tasks


def test_a_seed_slice_keeps_the_grids_cells_and_drops_tasks_left_without_seeds(tmp_path: Path):
    from bench.grid import GridError, only_seeds

    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\nseeds = [0, 1, 2]\n[[encoders]]\nname = "e5-small-offline"\nlayers = [8]\n'
                    '[[methods]]\nname = "original"\n[[tasks]]\nname = "tatoeba"\n'
                    '[[tasks]]\nname = "xnli"\nseeds = [5, 6]\n')
    spec = load_grid(grid)
    sliced = only_seeds(spec, (1, 2))
    assert sliced.seeds == (1, 2) and [t.name for t in sliced.tasks] == ["tatoeba"]
    assert sliced.tasks[0] == spec.tasks[0] and sliced.methods == spec.methods  # same cells, fewer seeds
    head_seeds = only_seeds(spec, (6,))
    assert [(t.name, t.seeds) for t in head_seeds.tasks] == [("xnli", (6,))]
    with pytest.raises(GridError, match=r"seeds \[9\] are not in the grid"):
        only_seeds(spec, (9,))
