import numpy as np
import pytest

from bench.cache import CachedEncoder, EmbeddingCache, cache_key
from bench.specs import EncodeSpec, Pooling
from tests.helpers import ToyEncoder

BASE = dict(fingerprint="fp", spec=EncodeSpec(layers=(8,)), layer=8, lang="de", texts=["a", "b"])


@pytest.mark.parametrize("change", [
    {"fingerprint": "fp2"},
    {"spec": EncodeSpec(layers=(8,), pooling=Pooling.CLS)},
    {"spec": EncodeSpec(layers=(8,), max_length=128)},
    {"spec": EncodeSpec(layers=(8,), prefix="query: ")},
    {"spec": EncodeSpec(layers=(8,), dtype="float16")},
    {"spec": EncodeSpec(layers=(8,), keep_tokens=True)},
    {"layer": 12},
    {"lang": "fr"},
    {"texts": ["a", "c"]},
    {"texts": ["b", "a"]},
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
    np.testing.assert_array_equal(again.encode(["x", "y"], "de", EncodeSpec(layers=(3,))).layer(3),
                                  toy.encode(["x", "y"], "de", EncodeSpec(layers=(3,))).layer(3))
    assert again.encoder_calls == 0
    assert not list((tmp_path / "embeddings").rglob("*.pkl"))


def test_spec_validation():
    with pytest.raises(ValueError, match="absolute hidden_states"):
        EncodeSpec(layers=(-1,))
    with pytest.raises(ValueError, match="dtype"):
        EncodeSpec(layers=(1,), dtype="int8")
