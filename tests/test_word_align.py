"""The Align task: gold-file reader, link extraction (Argmax, IterMax) and Och & Ney's metrics."""

from pathlib import Path

import numpy as np
import pytest

from bench.textio import DataFormatError
from tasks.word_align import (GoldPair, alignment_counts, alignment_scores, argmax_links, find_alignment_sets,
                              itermax_links, read_gold_set)


def _write_set(root: Path, folder: str, texts: str, gold: str) -> Path:
    path = root / "word-alignment" / folder
    path.mkdir(parents=True)
    stem = folder.replace("-", "")
    (path / f"{stem}.src-tgt").write_text(texts, encoding="utf-8")
    (path / f"{stem}.gold").write_text(gold, encoding="utf-8")
    return root


def _read(root: Path, lang: str):
    find_alignment_sets.cache_clear()
    return read_gold_set(find_alignment_sets(root / "word-alignment")[lang])


def test_every_real_gold_set_parses_with_the_counts_of_its_source(data_dir):
    sets = find_alignment_sets(Path(data_dir) / "word-alignment")
    assert set(sets) >= {"es", "fr", "hi", "ja", "ro", "zh"}
    sizes = {lang: len(read_gold_set(files).pairs) for lang, files in sets.items()}
    assert {k: sizes[k] for k in ("fr", "ro", "ja", "zh", "hi", "es")} == \
        {"fr": 447, "ro": 248, "ja": 582, "zh": 450, "hi": 90, "es": 100}  # SOURCE.md's table
    french = read_gold_set(sets["fr"])
    sure = sum(len(p.sure) for p in french.pairs)
    possible_only = sum(len(p.possible - p.sure) for p in french.pairs)
    assert (sure, possible_only) == (4038, 13400)
    # the known quirks: links one past the end of their sentence are dropped and named, not fatal
    assert len(read_gold_set(sets["ja"]).dropped) == 6 and len(read_gold_set(sets["hi"]).dropped) == 1
    assert all(".gold:" in d for d in read_gold_set(sets["ja"]).dropped)
    # zh-en has Chinese on the left: pairs are turned English first
    chinese = read_gold_set(sets["zh"]).pairs[0]
    assert chinese.english[0] == "scientists" and chinese.other[0] == "科学家"
    for pair in french.pairs + read_gold_set(sets["zh"]).pairs:
        assert pair.sure <= pair.possible
        assert all(i < len(pair.english) and j < len(pair.other) for i, j in pair.possible)


def test_orientation_and_possible_links_on_a_hand_written_file(tmp_path):
    root = _write_set(tmp_path, "ro-en", "a b ||| A B C\n", "1-2 2p3 3-1\n")  # 3-1: past the 2 left words
    gold = _read(root, "ro")
    (pair,) = gold.pairs
    assert pair.english == ("A", "B", "C") and pair.other == ("a", "b")
    assert pair.sure == {(1, 0)} and pair.possible == {(1, 0), (2, 1)}
    assert gold.dropped == ("roen.gold:1: link 3-1 (sentence lengths 2, 3)",)


@pytest.mark.parametrize("texts, gold, message", [
    ("a b | A B\n", "1-1\n", r"enro.src-tgt:1: expected 'left words \|\|\| right words'"),
    ("a b ||| A B\n", "1-1 2x2\n", r"enro.gold:1: alignment link '2x2'"),
    ("a b ||| A B\n", "0-1\n", r"enro.gold:1: alignment link '0-1'"),
    ("a b ||| A B\nc ||| C\n", "1-1\n", r"enro.gold: 1 lines, but enro.src-tgt has 2"),
    ("a b |||  \n", "\n", r"enro.src-tgt:1: a side of the sentence pair is empty"),
])
def test_malformed_gold_files_fail_with_file_and_line(tmp_path, texts, gold, message):
    root = _write_set(tmp_path, "en-ro", texts, gold)
    with pytest.raises(DataFormatError, match=message):
        _read(root, "ro")


def test_metrics_on_a_hand_checked_case():
    # S = {(0,0), (1,1)}, P = S + {(2,1)}; A = {(0,0), (2,1), (2,2)}
    sure, possible = frozenset({(0, 0), (1, 1)}), frozenset({(0, 0), (1, 1), (2, 1)})
    counts = alignment_counts({(0, 0), (2, 1), (2, 2)}, sure, possible)
    assert counts.tolist() == [3, 2, 1, 2]  # |A|, |S|, |A∩S|, |A∩P|
    scores = alignment_scores(counts)
    # precision 2/3, recall 1/2, F1 = 4/7, AER = 1 - (1 + 2) / (3 + 2) = 0.4
    assert scores["precision"] == pytest.approx(100 * 2 / 3)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * 4 / 7)
    assert scores["aer"] == pytest.approx(40.0)


def _straightforward(predicted_per_pair, pairs):
    """An independent count from link strings, the way the gold file writes them."""
    hits_p = hits_s = n_pred = n_sure = 0
    for predicted, pair in zip(predicted_per_pair, pairs):
        sure = {f"{i}-{j}" for i, j in pair.sure}
        possible = {f"{i}-{j}" for i, j in pair.possible}
        for i, j in predicted:
            n_pred += 1
            hits_p += f"{i}-{j}" in possible
            hits_s += f"{i}-{j}" in sure
        n_sure += len(sure)
    precision, recall = hits_p / n_pred, hits_s / n_sure
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 200 * precision * recall / (precision + recall),
            "aer": 100 * (1 - (hits_s + hits_p) / (n_pred + n_sure))}


def test_summed_counts_match_an_independent_count_on_real_gold(data_dir):
    pairs = read_gold_set(find_alignment_sets(Path(data_dir) / "word-alignment")["fr"]).pairs[:60]
    rng = np.random.default_rng(0)
    predicted = [{(int(i), int(j)) for i, j in zip(rng.integers(len(p.english), size=5), rng.integers(len(p.other), size=5))}
                 | set(list(p.possible)[:2]) for p in pairs]
    total = sum(alignment_counts(a, p.sure, p.possible) for a, p in zip(predicted, pairs))
    ours, reference = alignment_scores(total), _straightforward(predicted, pairs)
    assert ours == pytest.approx(reference)
    assert 0 < ours["aer"] < 100


def test_argmax_keeps_mutual_nearest_neighbours_only():
    similarity = np.array([[0.9, 0.1, 0.0],
                           [0.8, 0.2, 0.1],   # row 1's best is column 0, whose best is row 0: no link
                           [0.0, 0.3, 0.7]])
    assert argmax_links(similarity) == {(0, 0), (2, 2)}
    assert argmax_links(np.zeros((0, 3))) == set()


def test_itermax_adds_links_for_unaligned_words_only():
    # rows 0 and 1 both prefer column 0; Argmax links row 0 only (its similarity is higher)
    similarity = np.array([[0.95, 0.0, -0.5, -0.5],
                           [0.9, 0.5, -0.5, -0.5],
                           [-0.5, -0.5, 0.9, 0.0],
                           [-0.5, -0.5, 0.0, 0.9]])
    argmax = argmax_links(similarity)
    assert argmax == {(0, 0), (2, 2), (3, 3)}
    # round two on (cos + 1) / 2, alpha 0.9: row 1 sees the aligned column 0 at 0.95 * 0.9 = 0.855 and the
    # unaligned column 1 at 0.75 * 1 = 0.75; (1, 0) joins a new word to an aligned one, so it is kept
    assert itermax_links(similarity, rounds=2, alpha=0.9) == argmax | {(1, 0)}
    # alpha 0.5: column 0 drops to 0.475 < 0.75, so row 1 takes the unaligned column 1 instead
    assert itermax_links(similarity, rounds=2, alpha=0.5) == argmax | {(1, 1)}
    assert itermax_links(similarity, rounds=1) == argmax
    # two words on a side: Argmax only, as in the authors' code
    assert itermax_links(similarity[:2, :2]) == argmax_links(similarity[:2, :2])


def test_gold_sentences_are_guarded_and_share_no_text_with_training_data(data_dir):
    from bench.anchors import evaluation_texts, normalize_text, parallel_languages, parallel_sentences
    from bench.registry import load_registry

    banned = evaluation_texts(Path(data_dir), load_registry())
    sets = find_alignment_sets(Path(data_dir) / "word-alignment")
    for lang, files in sets.items():
        pair: GoldPair = read_gold_set(files).pairs[5]
        assert normalize_text(" ".join(pair.other)) in banned[lang]
        assert normalize_text(" ".join(pair.english)) in banned["en"]
    # tokenisation-blind check (the gold is pre-tokenised, the parallel data is raw text): no gold sentence
    # of at least 4 words is in any language's training pairs, spaces ignored
    def squash(text: str) -> str:
        return "".join(text.casefold().split())

    gold_texts = {squash(" ".join(side)) for files in sets.values() for p in read_gold_set(files).pairs
                  for side in (p.english, p.other) if len(side) >= 4}
    for lang in parallel_languages(Path(data_dir)):
        pairs = parallel_sentences(Path(data_dir), lang, 10**9, banned).pairs
        leaked = [a for a, b in pairs if squash(a) in gold_texts] + [b for a, b in pairs if squash(b) in gold_texts]
        assert not leaked, f"{lang}: gold word-alignment sentences in the training pairs: {leaked[:3]}"


@pytest.mark.slow
def test_align_on_the_offline_encoder_is_far_above_chance(e5, data_dir, cache_root):
    from bench.taskapi import TaskContext
    from tasks.word_align import WordAlign

    scores = {s.metric: s.value for s in WordAlign().evaluate(e5, "es", TaskContext(Path(data_dir), 8, 0, cache_root))}
    assert scores["f1"] > 40 and scores["aer"] < 60  # measured: see README; random links score under 10
    assert scores["recall_itermax"] >= scores["recall"]  # itermax only adds links
    assert scores["aer"] == pytest.approx(100 - scores["f1"])  # en-es has sure links only
