"""Every shipped grid file loads and validates against the registry (names, parameters, layers)."""

from pathlib import Path

import pytest

from bench.grid import load_grid
from tests.conftest import REPO


@pytest.mark.parametrize("path", sorted((REPO / "grids").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_grid_is_valid(path: Path):
    spec = load_grid(path)
    assert spec.encoders and spec.methods and spec.tasks
