"""Workers sharing one cache directory (the Ray/Slurm set-up): writers racing on the same entries
leave every entry readable and right, and no temporary file behind."""

import multiprocessing as mp

import numpy as np

from bench.artifacts import ArtifactStore
from bench.cache import CachedEncoder, EmbeddingCache
from bench.specs import EncodeSpec
from tests.helpers import ToyEncoder

TEXTS = [f"sentence number {i}" for i in range(300)]
SPEC = EncodeSpec(layers=(4,))


def _encode(root, barrier, out):
    barrier.wait()  # both processes start writing the same bucket at once
    encoder = CachedEncoder(ToyEncoder(), EmbeddingCache(root / "cache"))
    np.save(out, np.asarray(encoder.encode(TEXTS, "de", SPEC).pooled[4]))


def _save(root, barrier, value):
    barrier.wait()
    ArtifactStore(root).save("samekey", {"w": np.full((50, 50), value)}, {"writer": value})


def _race(target, root, args_per_process):
    context = mp.get_context("fork")
    barrier = context.Barrier(len(args_per_process))
    workers = [context.Process(target=target, args=(root, barrier, *args)) for args in args_per_process]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0


def test_two_workers_filling_the_same_embedding_bucket(tmp_path):
    _race(_encode, tmp_path, [(tmp_path / "first.npy",), (tmp_path / "second.npy",)])
    first, second = np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy")
    expected = np.asarray(ToyEncoder().encode(TEXTS, "de", SPEC).pooled[4])
    np.testing.assert_allclose(first, expected)
    np.testing.assert_allclose(second, expected)
    reader = CachedEncoder(ToyEncoder(), EmbeddingCache(tmp_path / "cache"))
    np.testing.assert_allclose(reader.encode(TEXTS, "de", SPEC).pooled[4], expected)
    assert reader.encoder_calls == 0  # served from what the racing writers left
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


def test_two_workers_saving_the_same_artifact(tmp_path):
    _race(_save, tmp_path, [(1.0,), (2.0,)])
    state = ArtifactStore(tmp_path).load("samekey")
    assert state is not None and set(np.unique(state["w"])) <= {1.0, 2.0} and len(np.unique(state["w"])) == 1
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
