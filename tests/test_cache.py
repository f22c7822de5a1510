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
