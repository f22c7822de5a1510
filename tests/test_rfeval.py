"""RFEval: the EMD scorer against an exact assignment, and the reader on real and malformed files."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from bench.textio import DataFormatError
from tasks.rfeval import emd_similarities, read_rfeval, rfeval_pairs


def test_emd_equals_the_optimal_assignment_on_equal_size_uniform_cases():
    """With n tokens per side and weights 1/n, EMD is the mean cost of the best one-to-one matching."""
    rng = np.random.default_rng(0)
    sources = [rng.normal(size=(n, 24)) for n in (1, 3, 7, 12)]
    targets = [rng.normal(size=(len(s), 24)) for s in sources]
    ours = emd_similarities(sources, targets)
    for S, T, value in zip(sources, targets, ours):
        S = S / np.linalg.norm(S, axis=1, keepdims=True)
        T = T / np.linalg.norm(T, axis=1, keepdims=True)
        cost = 1 - S @ T.T
        rows, cols = linear_sum_assignment(cost)
        assert value == pytest.approx(1 - cost[rows, cols].mean(), abs=1e-9)


def test_emd_similarity_is_one_for_identical_token_sets_in_any_order():
    S = np.random.default_rng(1).normal(size=(5, 8))
    assert emd_similarities([S], [S[::-1] * 3.0])[0] == pytest.approx(1.0)


def test_real_rfeval_files(data_dir):
    pairs = rfeval_pairs(data_dir)
    assert set(pairs) >= {"de-en", "zh-en"}
    for pair in pairs.values():
        assert len(pair.sources) == len(pair.translations) == len(pair.human) == 560
        assert pair.target_lang == "en"


@pytest.mark.parametrize("body, message", [
    ("LP\tsource\ttranslation\treference\tHUMAN_score\tsentBLEU\nde-en\tHallo\thello\thi\tabc\t0.1\n", r"x.tsv:2: HUMAN_score 'abc'"),
    ("LP\tsource\ttranslation\treference\tHUMAN_score\tsentBLEU\nde-en\tHallo\thello\thi\n", r"x.tsv:2: expected 6"),
    ("LP\tsrc\tmt\n", r"x.tsv:1: expected a header"),
    ("LP\tsource\ttranslation\treference\tHUMAN_score\tsentBLEU\nde-en\t \thello\thi\t0.5\t0.1\n", r"x.tsv:2: empty source"),
])
def test_malformed_rfeval_names_file_and_line(tmp_path, body, message):
    path = tmp_path / "x.tsv"
    path.write_text(body)
    with pytest.raises(DataFormatError, match=message):
        read_rfeval(path, "de", "en")
