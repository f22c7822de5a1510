"""Tatoeba through the harness agrees with a straightforward independent computation."""

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from bench.cache import CachedEncoder, EmbeddingCache
from bench.taskapi import TaskContext
from tasks.tatoeba import Tatoeba, load_tatoeba

pytestmark = pytest.mark.slow
LAYER = 8


def _independent_embeddings(model_dir, sentences):
    """One sentence at a time (no padding, no batching), mean over all tokens, plain transformers."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    vectors = []
    with torch.no_grad():
        for sentence in sentences:
            batch = tokenizer(sentence, return_tensors="pt", truncation=True, max_length=512)
            vectors.append(model(**batch, output_hidden_states=True).hidden_states[LAYER][0].mean(0).numpy())
    return np.stack(vectors)


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_tatoeba_matches_independent_computation(e5, cache_root, data_dir, lang):
    other, english = load_tatoeba(data_dir, lang)
    X = _independent_embeddings(e5.model_dir, other)
    E = _independent_embeddings(e5.model_dir, english)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    expected_en_to_xx = 100 * np.mean((E @ X.T).argmax(1) == np.arange(len(E)))
    expected_xx_to_en = 100 * np.mean((X @ E.T).argmax(1) == np.arange(len(X)))

    encoder = CachedEncoder(e5, EmbeddingCache(cache_root))
    scores = {s.metric: s.value for s in Tatoeba().evaluate(encoder, lang, TaskContext(data_dir, LAYER, 0))}
    assert abs(scores["p1_en_to_xx"] - expected_en_to_xx) <= 0.1
    assert abs(scores["p1_xx_to_en"] - expected_xx_to_en) <= 0.1
