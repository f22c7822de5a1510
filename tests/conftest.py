import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tests never touch the network: hub clients fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("ALIGNBENCH_DATA", REPO.parent / "shared" / "data")).resolve()
    if not path.is_dir():
        pytest.fail(f"real data not found at {path}: set ALIGNBENCH_DATA")
    return path


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory) -> Path:
    """One cache for the whole session, so the offline model is converted once."""
    explicit = os.environ.get("ALIGNBENCH_TEST_CACHE")
    return Path(explicit) if explicit else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def e5(cache_root):
    from bench.encoders.sources import resolve_encoder

    return resolve_encoder("e5-small-offline", cache_root, batch_size=32)
