import numpy as np
import pytest

from bench.cache import CachedEncoder, EmbeddingCache, cache_key
from bench.specs import EncodeSpec, Pooling
from tests.helpers import ToyEncoder

BASE = dict(fingerprint="fp", spec=EncodeSpec(layers=(8,)), layer=8, lang="de", text="a")


@pytest.mark.parametrize("change", [
    {"fingerprint": "fp2"},
    {"spec": EncodeSpec(layers=(8,), pooling=Pooling.CLS)},
    {"spec": EncodeSpec(layers=(8,), max_length=128)},
    {"spec": EncodeSpec(layers=(8,), prefix="query: ")},
    {"spec": EncodeSpec(layers=(8,), dtype="float16")},
    {"spec": EncodeSpec(layers=(8,), keep_tokens=True)},
    {"layer": 12},
    {"lang": "fr"},
    {"text": "b"},
    {"text": "a "},
])
def test_every_vector_affecting_field_changes_the_key(change):
    assert cache_key(**{**BASE, **change}) != cache_key(**BASE)


def test_key_ignores_which_other_layers_were_requested():
    assert cache_key(**{**BASE, "spec": EncodeSpec(layers=(8, 12))}) == cache_key(**BASE)


def test_second_encode_is_served_from_disk_and_prefetch_fills_other_layers(tmp_path):
    toy = ToyEncoder()
    cached = CachedEncoder(toy, EmbeddingCache(tmp_path), prefetch_layers=(1, 3))
    first = cached.encode(["x", "y"], "de", EncodeSpec(layers=(1,)))
    assert toy.calls == 1
    again = CachedEncoder(ToyEncoder(fail_after=0, exception=AssertionError), EmbeddingCache(tmp_path), prefetch_layers=(1, 3))
    np.testing.assert_array_equal(again.encode(["x", "y"], "de", EncodeSpec(layers=(1,))).layer(1), first.layer(1))
    np.testing.assert_array_equal(again.encode(["y"], "de", EncodeSpec(layers=(1,))).layer(1), first.layer(1)[1:])
    np.testing.assert_array_equal(again.encode(["x", "y"], "de", EncodeSpec(layers=(3,))).layer(3),
                                  toy.encode(["x", "y"], "de", EncodeSpec(layers=(3,))).layer(3))
    assert again.encoder_calls == 0
    assert not list((tmp_path / "embeddings").rglob("*.pkl"))


def test_spec_validation():
    with pytest.raises(ValueError, match="absolute hidden_states"):
        EncodeSpec(layers=(-1,))
    with pytest.raises(ValueError, match="dtype"):
        EncodeSpec(layers=(1,), dtype="int8")


def test_only_missing_texts_are_encoded(tmp_path):
    toy = ToyEncoder()
    seen = []
    original = toy.encode
    toy.encode = lambda texts, lang, spec, **kw: seen.append(list(texts)) or original(texts, lang, spec)
    cached = CachedEncoder(toy, EmbeddingCache(tmp_path))
    cached.encode(["a", "b"], "de", EncodeSpec(layers=(1,)))
    out = cached.encode(["b", "c", "a", "c"], "de", EncodeSpec(layers=(1,)))
    assert seen == [["a", "b"], ["c"]]
    np.testing.assert_array_equal(out.layer(1)[1], out.layer(1)[3])
    np.testing.assert_allclose(out.layer(1)[0], original(["b"], "de", EncodeSpec(layers=(1,))).layer(1)[0], rtol=1e-6)


def test_token_level_entries_round_trip(tmp_path):
    class TokenToy(ToyEncoder):
        def encode(self, texts, lang, spec, progress=False):
            self.calls += 1
            lengths = np.array([len(t) for t in texts])
            tokens = np.concatenate([np.full((n, 2), i, np.float32) for i, n in enumerate(lengths)])
            offsets = np.concatenate([np.stack([np.arange(n), np.arange(n) + 1], 1) for n in lengths])
            pooled = {l: np.stack([np.full(2, float(len(t)), np.float32) for t in texts]) for l in spec.layers}
            return Embeddings(pooled=pooled, tokens={l: tokens for l in spec.layers}, lengths=lengths, offsets=offsets)

    from bench.encoders.base import Embeddings

    spec = EncodeSpec(layers=(1,), keep_tokens=True)
    cached = CachedEncoder(TokenToy(), EmbeddingCache(tmp_path))
    cached.encode(["abc", "de"], "en", spec)
    out = cached.encode(["de", "xyzw", "abc"], "en", spec)
    assert out.lengths.tolist() == [2, 4, 3]
    assert out.token_states(1, 1).shape == (4, 2) and out.offsets[:2].tolist() == [[0, 1], [1, 2]]


def test_corrupt_cache_entries_are_reported_discarded_and_recomputed(tmp_path, caplog):
    import json

    from bench.cache import CachedEncoder, EmbeddingCache
    from bench.specs import EncodeSpec
    from tests.helpers import ToyEncoder

    spec = EncodeSpec(layers=(1,))
    texts = [f"text {i}" for i in range(20)]
    reference = CachedEncoder(ToyEncoder(), EmbeddingCache(tmp_path)).encode(texts, "de", spec).pooled[1]
    shards = sorted((tmp_path / "embeddings").rglob("*.pooled.npy"))
    assert len(shards) == 1
    damages = {
        "truncated shard": lambda: shards[0].write_bytes(shards[0].read_bytes()[:100]),
        "deleted shard": lambda: shards[0].unlink(),
        "corrupt listing": lambda: shards[0].with_name(shards[0].name.split(".")[0] + ".json").write_text("{not json"),
    }
    for what, damage in damages.items():
        damage()
        caplog.clear()
        toy = ToyEncoder()
        again = CachedEncoder(toy, EmbeddingCache(tmp_path)).encode(texts, "de", spec).pooled[1]
        np.testing.assert_array_equal(again, reference)
        assert toy.calls == 1, what  # recomputed once
        assert "discarding" in caplog.text and "embeddings" in caplog.text, what
        shards = sorted((tmp_path / "embeddings").rglob("*.pooled.npy"))
        listing = json.loads(shards[0].with_name(shards[0].name.split(".")[0] + ".json").read_text())
        assert listing["files"]["pooled"] == shards[0].stat().st_size
        toy = ToyEncoder()
        CachedEncoder(toy, EmbeddingCache(tmp_path)).encode(texts, "de", spec)
        assert toy.calls == 0, what  # the recomputed entry is good


def test_a_truncated_artifact_is_discarded_and_refitted(tmp_path, caplog):
    from bench.artifacts import ArtifactStore

    store = ArtifactStore(tmp_path)
    store.save("key", {"W": np.eye(3)}, {})
    path = tmp_path / "artifacts" / "key.npz"
    path.write_bytes(path.read_bytes()[:40])
    assert store.load("key") is None
    assert "discarding unreadable" in caplog.text and str(path) in caplog.text and not path.exists()


def test_temporary_files_left_by_a_kill_are_swept(tmp_path):
    import os

    from bench.cache import sweep_temporary

    old = [tmp_path / "cache" / "embeddings" / "ab" / "abc" / ".x.pooled.tmp.npy", tmp_path / "cache" / "artifacts" / ".tmp-1.npz",
           tmp_path / "out" / ".results.jsonl.123", tmp_path / "cache" / "models" / ".building-9" / "model.safetensors"]
    young = tmp_path / "cache" / "artifacts" / ".tmp-2.npz"  # may belong to a run still writing
    kept = tmp_path / "cache" / "artifacts" / "key.npz"
    for path in old + [young, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    for path in old + [kept, old[-1].parent]:
        os.utime(path, (0, 0))
    assert sweep_temporary(tmp_path / "cache", tmp_path / "out") == (4, 40)
    assert not any(p.exists() for p in old) and young.exists() and kept.exists()


def test_a_manifest_catches_truncated_missing_and_rewritten_files(tmp_path):
    import os

    from bench.manifest import manifest_problems, record_files

    for name, body in {"weights.bin": b"w" * 1000, "config.json": b"{}"}.items():
        (tmp_path / name).write_bytes(body)
    files = record_files(tmp_path, ["weights.bin", "config.json"])
    assert manifest_problems(tmp_path, files) == []
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 500)
    assert manifest_problems(tmp_path, files) == [f"{weights}: 500 bytes, 1000 recorded"]
    weights.write_bytes(b"x" * 1000)  # same size, new content, new mtime: hashed again
    os.utime(weights, ns=(files["weights.bin"]["mtime_ns"] + 10**9,) * 2)
    assert manifest_problems(tmp_path, files) == [f"{weights}: content differs from the recorded sha256"]
    (tmp_path / "config.json").unlink()
    assert f"{tmp_path / 'config.json'}: missing" in manifest_problems(tmp_path, files)


@pytest.mark.slow
def test_a_truncated_converted_model_is_named_and_rebuilt_identically(e5, cache_root, tmp_path, caplog):
    import json
    import shutil

    from bench.encoders.offline_e5 import FINGERPRINT_FILE, build_e5_model_dir

    built = build_e5_model_dir(cache_root)
    recorded = json.loads((built / FINGERPRINT_FILE).read_text())["files"]
    copy = tmp_path / "models" / built.name
    shutil.copytree(built, copy)
    weights = copy / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(recorded["model.safetensors"]["size"] // 2)
    assert build_e5_model_dir(tmp_path) == copy
    assert "unusable" in caplog.text and str(weights) in caplog.text
    rebuilt = json.loads((copy / FINGERPRINT_FILE).read_text())["files"]
    assert {n: r["sha256"] for n, r in rebuilt.items()} == {n: r["sha256"] for n, r in recorded.items()}  # deterministic
