"""Transfer-task logic: word features, heads, splits and leakage, on fixtures and real data (no model)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bench.anchors import normalize_text
from bench.encoders.base import Embeddings
from bench.grid import expand, load_grid
from bench.plan import resolve
from bench.registry import load_registry
from tests.helpers import TransformerLikeEncoder
from bench.taskapi import TaskContext
from bench import wordvectors
from bench.textio import DataFormatError
from tasks import _transfer
from tasks import _ud
from tasks._ud import load_ud, source_file, ud_evaluation_texts, ud_files
from tasks.dp import _adjacent_heads, parse
from tasks.ner import NamedEntities
from tasks.xnli import CrossLingualNli, item_split, read_nli, xnli_files


class PieceEncoder:
    """Fixture encoder: each word splits into 2-character pieces; a piece's vector is a hash of its text.

    Special tokens (offsets (0, 0)) wrap every text, like a real tokenizer's.
    """

    name, fingerprint, num_layers = "pieces", "pieces-1", 2

    @staticmethod
    def piece_vector(piece: str) -> np.ndarray:
        seed = int(hashlib.sha256(piece.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).normal(size=8).astype(np.float32)

    def encode(self, texts, lang, spec, progress=False):
        tokens, lengths, offsets, pooled = [], [], [], []
        for text in texts:
            spans, position = [(0, 0)], 0
            for word in text.split(" "):
                if word == "\u200b":  # like a real tokenizer's normaliser: this word yields no token
                    position += len(word) + 1
                    continue
                spans += [(position + i, position + min(i + 2, len(word))) for i in range(0, len(word), 2)]
                position += len(word) + 1
            spans.append((0, 0))
            vectors = np.stack([self.piece_vector(text[a:b] if b > a else "<special>") for a, b in spans])
            tokens.append(vectors)
            lengths.append(len(spans))
            offsets.append(np.array(spans))
            pooled.append(vectors.mean(0))
        layer = spec.layers[0]
        return Embeddings({layer: np.stack(pooled)}, {layer: np.concatenate(tokens)}, np.array(lengths),
                          np.concatenate(offsets))


def test_word_features_take_each_words_first_piece():
    features = wordvectors.word_features(PieceEncoder(), [("Haus", "ab"), ("Dach",)], "de", 1)
    assert features.lengths.tolist() == [2, 1] and features.truncated_words == 0
    expected = np.stack([PieceEncoder.piece_vector(p) for p in ("Ha", "ab", "Da")])
    assert np.allclose(features.vectors, expected)


def test_sampling_is_fixed_and_keeps_file_order():
    items = list(range(100))
    assert _transfer.sample(items, 10) == _transfer.sample(items, 10) == sorted(_transfer.sample(items, 10))
    assert _transfer.sample(items, 0) == items and _transfer.sample(items, 500) == items


def _planted_tagging(seed: int, n: int = 600):
    centers = np.random.default_rng(99).normal(size=(4, 12)) * 3  # the same classes for train and dev
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, size=n)
    return (centers[y] + rng.normal(size=(n, 12))).astype(np.float32), y


def test_tagger_head_learns_and_is_reused_by_content(tmp_path):
    from tasks.pos import _fit_tagger

    X, y = _planted_tagging(0)
    X_dev, y_dev = _planted_tagging(1, 200)
    config = _transfer.HeadConfig("linear-tagger", epochs=5, lr=1e-2, batch_size=64, dropout=0.0)
    ctx = TaskContext(Path("."), 1, 0, tmp_path)
    head, record = _fit_tagger(X, y, X_dev, y_dev, 4, config, ctx)
    assert not record["head_cached"] and record["dev_score"] > 0.9
    again, record2 = _fit_tagger(X, y, X_dev, y_dev, 4, config, ctx)
    assert record2["head_cached"] and record2["head_key"] == record["head_key"]
    assert (_transfer.predict_in_batches(head, X_dev) == _transfer.predict_in_batches(again, X_dev)).all()
    _, other_seed = _fit_tagger(X, y, X_dev, y_dev, 4, config, TaskContext(Path("."), 1, 1, tmp_path))
    _, other_data = _fit_tagger(X + 1e-3, y, X_dev, y_dev, 4, config, ctx)
    assert len({record["head_key"], other_seed["head_key"], other_data["head_key"]}) == 3


def test_a_truncated_head_is_named_discarded_and_retrained(tmp_path, caplog):
    from tasks.pos import _fit_tagger

    X, y = _planted_tagging(0)
    X_dev, y_dev = _planted_tagging(1, 200)
    config = _transfer.HeadConfig("linear-tagger", epochs=2, lr=1e-2, batch_size=64, dropout=0.0)
    ctx = TaskContext(Path("."), 1, 0, tmp_path)
    head, record = _fit_tagger(X, y, X_dev, y_dev, 4, config, ctx)
    path = tmp_path / "heads" / f"{record['head_key']}.pt"
    for damage in (lambda: path.write_bytes(path.read_bytes()[:50]), lambda: path.write_bytes(b"")):
        damage()
        again, record2 = _fit_tagger(X, y, X_dev, y_dev, 4, config, ctx)
        assert not record2["head_cached"] and "discarding unreadable" in caplog.text and str(path) in caplog.text
        assert (_transfer.predict_in_batches(head, X_dev) == _transfer.predict_in_batches(again, X_dev)).all()
        assert _fit_tagger(X, y, X_dev, y_dev, 4, config, ctx)[1]["head_cached"]  # the retrained head is good
        caplog.clear()


def test_new_head_does_not_depend_on_what_ran_before(tmp_path):
    """A head's initial weights come from the cell's seed, not from the process's global RNG state, so a
    resumed run trains the same head as a fresh one."""
    import torch

    from tasks.pos import _fit_tagger

    X, y = _planted_tagging(0)
    X_dev, y_dev = _planted_tagging(1, 200)
    config = _transfer.HeadConfig("linear-tagger", epochs=1, lr=1e-2, batch_size=64, dropout=0.0)
    torch.manual_seed(123)
    first, _ = _fit_tagger(X, y, X_dev, y_dev, 4, config, TaskContext(Path("."), 1, 0, tmp_path / "a"))
    torch.randn(1000)  # what an earlier cell's training would do to the global state
    second, _ = _fit_tagger(X, y, X_dev, y_dev, 4, config, TaskContext(Path("."), 1, 0, tmp_path / "b"))
    for name, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[name]), name


def test_biaffine_parser_learns_a_planted_tree():
    """Word vectors encode their position; every word's head is the word before it (the first is the root)."""
    import torch

    from tasks._biaffine import BiaffineParser, pad_batch

    rng = np.random.default_rng(0)
    eye = np.eye(12, dtype=np.float32)

    def sentence(n):
        return eye[:n] + 0.05 * rng.normal(size=(n, 12)).astype(np.float32), [i for i in range(n)], [0] * n

    train = [sentence(int(rng.integers(3, 11))) for _ in range(200)]
    test = [sentence(int(rng.integers(3, 11))) for _ in range(50)]
    torch.manual_seed(0)
    parser = BiaffineParser(12, 1, arc_dim=32, rel_dim=8, dropout=0.0)
    optimizer = torch.optim.Adam(parser.parameters(), lr=5e-3)
    for _ in range(15):
        for start in range(0, len(train), 20):
            chunk = train[start:start + 20]
            optimizer.zero_grad()
            parser.loss(*pad_batch([c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk])).backward()
            optimizer.step()
    parser.eval()
    heads, labels = parse(parser, [t[0] for t in test], ["dep"])
    correct = sum(h == g for (_, gold, _), predicted in zip(test, heads) for h, g in zip(predicted, gold))
    assert correct / sum(len(t[1]) for t in test) > 0.95 and labels[0][0] == "dep"


def test_adjacent_attachment_baseline():
    assert _adjacent_heads(4, "right") == [2, 3, 4, 0]
    assert _adjacent_heads(4, "left") == [0, 1, 2, 3]


# --- real data: splits, leakage, malformed input ------------------------------------------------

def test_xnli_split_keeps_items_and_premises_apart(data_dir):
    split = item_split(data_dir)
    roles = [set(split[r]) for r in ("train", "select", "test")]
    assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
    assert sum(len(r) for r in roles) == 2490
    english = read_nli(xnli_files(data_dir)["en"]["dev"])
    premises = {role: {english.premises[i] for i in split[role]} for role in split}
    assert not premises["test"] & (premises["train"] | premises["select"])
    assert 0.45 < len(split["test"]) / 2490 < 0.55
    # the test items of every language are translations of English test items only: same rows, same labels
    german = read_nli(xnli_files(data_dir)["de"]["dev"])
    assert [german.labels[i] for i in split["test"]] == [english.labels[i] for i in split["test"]]


def test_xnli_training_text_is_never_test_text(data_dir):
    task = CrossLingualNli()
    banned = {normalize_text(t) for texts in task.evaluation_texts(data_dir).values() for t in texts}
    english = read_nli(xnli_files(data_dir)["en"]["dev"])
    train_premises = {normalize_text(english.premises[i]) for i in item_split(data_dir)["train"]}
    assert not train_premises & banned


def test_ner_english_selection_and_test_halves_are_disjoint(data_dir):
    train, select, english_test = NamedEntities(dev_limit=400)._english(data_dir)
    assert len(select) == len(english_test) == 200
    assert not {s.words for s in select} & {s.words for s in english_test} - {()}
    assert train and all(t in {"O"} or t[:2] in ("B-", "I-") for s in train for t in s.tags)


def test_ner_conll2002_drops_types_the_source_lacks(data_dir):
    task = NamedEntities(test_limit=50)
    sets = task.test_sets(data_dir, "es", [], ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"])
    assert set(sets) == {"panx-dev", "conll2002-testb"}
    assert not {t for s in sets["conll2002-testb"] for t in s.tags if "MISC" in t}


def test_ud_training_sentences_never_occur_in_test_files(data_dir):
    train = {normalize_text(" ".join(s.words)) for s in load_ud(source_file(data_dir, "train"))}
    tests = {normalize_text(t) for texts in ud_evaluation_texts(data_dir).values() for t in texts}
    # EWT's own split repeats a few e-mail formulas ("Thanks ,", "Regards"); nothing longer is shared
    shared = train & tests
    assert train and len(shared) < 0.02 * len(train) and all(len(t.split()) <= 5 for t in shared)
    assert set(_ud.test_subsets(ud_files(data_dir)["de"])) == {"test", "pud-test"}
    # PUD carries English translations; the guard has them under English
    pud_de = load_ud(ud_files(data_dir)["de"]["pud-test"])
    assert pud_de[0].text_en and pud_de[0].text_en in ud_evaluation_texts(data_dir)["en"]


def test_xnli_malformed_and_misaligned_files_name_file_and_line(tmp_path):
    root = tmp_path / "xnli"
    (root / "en").mkdir(parents=True)
    (root / "de").mkdir()
    (root / "en" / "dev.tsv").write_text("A man sleeps.\tA person rests.\tentailment\nIt rains.\tIt is dry.\tcontradiction\n")
    (root / "de" / "dev.tsv").write_text("Ein Mann schläft.\tJemand ruht.\tentailment\n")
    with pytest.raises(DataFormatError, match=r"de/dev.tsv: not line-aligned"):
        item_split(tmp_path)
    (root / "de" / "test.tsv").write_text("Ein Mann schläft.\tJemand ruht.\tentailment\nEs regnet.\tEs ist trocken.\tmaybe\n")
    with pytest.raises(DataFormatError, match=r"de/test.tsv:2: unknown label 'maybe'"):
        read_nli(root / "de" / "test.tsv")


def test_grid_task_layers_seeds_and_protocol_acceptance(tmp_path, data_dir):
    grid = tmp_path / "g.toml"
    grid.write_text("""
name = "t"
seeds = [0]
[[encoders]]
name = "e5-small-offline"
layers = [8, 12]
[[methods]]
name = "original"
[[methods]]
name = "procrustes"
[[tasks]]
name = "xnli"
layers = [8]
seeds = [0, 1, 2]
languages = ["de"]
[[tasks]]
name = "xnli"
params = { protocol_name = "finetune" }
layers = [12]
languages = ["de"]
""")
    registry = load_registry()
    encoder = TransformerLikeEncoder()
    cells, failures = expand(load_grid(grid), data_dir, {"e5-small-offline": encoder}, registry)
    assert not failures
    resolved = [resolve(c, registry, encoder, data_dir) for c in cells]
    frozen = [r.cell for r in resolved if not r.cell.task.params]
    tuned = [r for r in resolved if r.cell.task.params]
    assert {(c.layer, c.seed) for c in frozen} == {(8, 0), (8, 1), (8, 2)} and len(frozen) == 6
    # procrustes cannot be fine-tuned: planned as not applicable, never run
    assert sorted((r.cell.method.name, r.cell.layer, r.not_applicable) for r in tuned) == [
        ("original", 12, ""), ("procrustes", 12, "xnli[protocol_name=finetune] trains the encoder; procrustes only maps frozen vectors")]
    grid.write_text(grid.read_text().replace("layers = [12]", "layers = [6]"))
    with pytest.raises(ValueError, match=r"layers \[6\] that no encoder lists"):
        load_grid(grid)


def test_memoised_word_features_of_an_aligned_encoder_equal_the_direct_path():
    from bench.alignment import AlignedEncoder

    class Shift:
        def transform(self, X, lang):
            return X * 2.0 + (1.0 if lang == "de" else 0.0)

    aligned = AlignedEncoder(PieceEncoder(), Shift(), 1, "shift", "k")
    sentences = [("Haus", "\u200b", "ab"), ("Dach",)]
    direct = wordvectors._word_features(aligned, sentences, "de", 1)
    for _ in range(2):  # second call is served from the memo
        memo = wordvectors.word_features(aligned, sentences, "de", 1)
        assert np.array_equal(memo.vectors, direct.vectors) and memo.lengths.tolist() == direct.lengths.tolist()
    assert direct.truncated_words == 1 and not direct.vectors[1].any()  # a word without sub-token stays zero
