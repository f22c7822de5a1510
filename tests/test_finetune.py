"""Weight-changing methods on a tiny randomly initialised BERT: known answers, checkpoints, the runner."""

from pathlib import Path

import numpy as np
import pytest

from bench.finetune import (SYNTHETIC_PIVOT, SYNTHETIC_SOURCE, CheckpointStore, TrainableModel, TrainingData,
                            synthetic_training_data, synthetic_vocabulary, tiny_model_dir)

GERMAN, ENGLISH = list(SYNTHETIC_SOURCE), list(SYNTHETIC_PIVOT)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny"), synthetic_vocabulary(), layers=2, hidden=32)


def toy_data() -> TrainingData:
    return synthetic_training_data()


def word_vectors(model: TrainableModel, sentences, layer: int) -> np.ndarray:
    import torch

    ids, mask, first = model.word_batch([s.split() for s in sentences], 32)
    with torch.no_grad():
        states = model.hidden(ids, mask, layer)
    return np.concatenate([states[row, first[row][first[row] >= 0]].numpy() for row in range(len(sentences))])


def test_joint_align_pulls_linked_words_together_and_keeps_english_near_the_original(tiny):
    from methods.joint_align import JointAlign

    model = TrainableModel(tiny)
    de0, en0 = word_vectors(model, GERMAN, 2), word_vectors(model, ENGLISH, 2)
    method = JointAlign(sentences_per_language=0, layer=2, epochs=10, lr=3e-3, batch_size=8, max_length=32,
                        freeze_embeddings=False)
    assert method.fit(toy_data(), model) is method
    de1, en1 = word_vectors(model, GERMAN, 2), word_vectors(model, ENGLISH, 2)
    gap0, gap1 = np.linalg.norm(de0 - en0, axis=1).mean(), np.linalg.norm(de1 - en1, axis=1).mean()
    german_moved, english_moved = np.linalg.norm(de1 - de0, axis=1).mean(), np.linalg.norm(en1 - en0, axis=1).mean()
    assert gap1 < 0.5 * gap0, (gap0, gap1)
    assert english_moved < 0.5 * german_moved, (english_moved, german_moved)
    first, last = method.record_["loss_first_tenth"][0], method.record_["loss_last_tenth"][0]
    assert last < first and method.record_["steps"] == 10 * 4


def test_the_regulariser_is_what_keeps_english_in_place(tiny):
    from methods.joint_align import JointAlign

    moved = {}
    for weight in (0.0, 10.0):
        model = TrainableModel(tiny)
        en0 = word_vectors(model, ENGLISH, 2)
        JointAlign(sentences_per_language=0, layer=2, epochs=5, lr=3e-3, batch_size=8, max_length=32, regularization=weight,
                   freeze_embeddings=False).fit(toy_data(), model)
        moved[weight] = np.linalg.norm(word_vectors(model, ENGLISH, 2) - en0, axis=1).mean()
    assert moved[10.0] < 0.5 * moved[0.0], moved


def test_training_is_deterministic_under_a_seed_and_differs_across_seeds(tiny):
    import torch

    from methods.joint_align import JointAlign

    states = []
    for seed in (0, 0, 1):
        model = TrainableModel(tiny)
        JointAlign(sentences_per_language=0, layer=2, epochs=1, lr=1e-3, batch_size=4, max_length=32, seed=seed).fit(toy_data(), model)
        states.append(model.module.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_frozen_embeddings_and_layers_stay_bit_identical(tiny):
    import torch

    from methods.joint_align import JointAlign

    model = TrainableModel(tiny)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    model.freeze(embeddings=True, layers_below=1)
    JointAlign(sentences_per_language=0, layer=2, epochs=1, lr=1e-2, batch_size=8, max_length=32, freeze_embeddings=True).fit(
        toy_data(), model)
    after = model.module.state_dict()
    frozen = [k for k in before if k.startswith("embeddings.") or k.startswith("encoder.layer.0.")]
    trained = [k for k in before if k.startswith("encoder.layer.1.")]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert not all(torch.equal(before[k], after[k]) for k in trained)


def test_a_checkpoint_reloads_to_identical_vectors_and_a_truncated_one_is_retrained(tiny, tmp_path, caplog):
    import torch

    from bench.encoders.transformers_encoder import TransformersEncoder
    from bench.finetune import checkpoint_fingerprint
    from bench.specs import EncodeSpec
    from methods.joint_align import JointAlign

    model = TrainableModel(tiny)
    JointAlign(sentences_per_language=0, layer=2, epochs=1, lr=1e-3, batch_size=8, max_length=32).fit(toy_data(), model)
    store = CheckpointStore(tmp_path)
    directory = store.save("key1", model, {"record": {}, "provenance": {}})
    assert store.load("key1") == directory
    encoder = TransformersEncoder(directory)
    assert encoder.fingerprint == checkpoint_fingerprint("key1") != TransformersEncoder(tiny).fingerprint
    reloaded = encoder.encode(ENGLISH, "en", EncodeSpec(layers=(2,))).pooled[2]
    with torch.no_grad():
        direct = model.mean_pooled(ENGLISH, 2, 512).numpy()
    np.testing.assert_allclose(reloaded, direct, rtol=1e-5, atol=1e-6)
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert store.load("key1") is None and not directory.exists()
    assert "discarding" in caplog.text and str(weights) in caplog.text


FINETUNE_GRID = """
name = "finetune-toy"
[[encoders]]
name = "tiny"
layers = [2]
[[methods]]
name = "original"
[[methods]]
name = "joint-align"
params = { sentences_per_language = 30, layer = 2, batch_size = 8, max_length = 32 }
[[tasks]]
name = "tatoeba"
[[tasks]]
name = "sts"
"""


def test_the_runner_trains_one_checkpoint_evaluates_every_task_on_it_and_reuses_it(tmp_path):
    from bench.encoders.transformers_encoder import TransformersEncoder
    from bench.grid import load_grid
    from bench.results import read_jsonl
    from bench.runner import Runner, RunOptions
    from tests.helpers import write_fixture_data

    data = write_fixture_data(tmp_path / "data")
    words = {w for path in data.rglob("*") if path.is_file() for line in path.read_text().splitlines() for w in line.split()}
    model = tiny_model_dir(tmp_path / "tiny", sorted(words), layers=2, hidden=32)
    grid = tmp_path / "grid.toml"
    grid.write_text(FINETUNE_GRID)
    options = RunOptions(data_dir=data, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", progress=False)

    def runner():
        return Runner(load_grid(grid), options, lambda name, batch: TransformersEncoder(model, name="tiny"))

    summary = runner().run()
    assert summary.failed == 0 and summary.done == summary.planned == 6, summary.errors
    assert summary.encoder_calls > 0
    rows = [r for r in read_jsonl(tmp_path / "out" / "results.jsonl") if r["method"] == "joint-align"]
    checkpoints = {r["anchors"]["checkpoint"] for r in rows}
    assert len(checkpoints) == 1 and {r["task"] for r in rows} == {"tatoeba", "sts"} and rows[0]["category"] == "c"
    # the weights' own fingerprint, not the base encoder's: rows of retrained weights are told apart
    assert len({r["anchors"]["weights"] for r in rows}) == 1 and rows[0]["anchors"]["weights"] != rows[0]["encoder_fingerprint"]
    assert rows[0]["anchors"]["word_alignments:de"]["n"] == 40  # of which 30 sampled; those with a 1-1 link train
    assert 0 < rows[0]["anchors"]["training"]["sentence_pairs"] <= 30
    original = {(r["task"], r["language"], r["subset"], r["metric"]): r["value"]
                for r in read_jsonl(tmp_path / "out" / "results.jsonl") if r["method"] == "original"}
    assert any(original[(r["task"], r["language"], r["subset"], r["metric"])] != r["value"] for r in rows)  # weights changed
    assert len(list((tmp_path / "cache" / "checkpoints").iterdir())) == 1
    again = runner().run()
    assert again.done == 0 and again.encoder_calls == 0  # nothing trained, nothing encoded


def test_a_finetuner_on_an_encoder_without_trainable_weights_is_not_applicable(tmp_path):
    from bench.grid import load_grid
    from bench.runner import Runner, RunOptions
    from tests.helpers import ToyEncoder, write_fixture_data

    grid = tmp_path / "grid.toml"
    grid.write_text(FINETUNE_GRID.replace('name = "tiny"', 'name = "toy"'))
    options = RunOptions(data_dir=write_fixture_data(tmp_path / "data"), out_dir=tmp_path / "out",
                         cache_dir=tmp_path / "cache", progress=False)
    plan = Runner(load_grid(grid), options, lambda name, batch: ToyEncoder()).plan()
    reasons = {c.not_applicable for c in plan.not_applicable}
    assert len(plan.not_applicable) == 3 and all(c.cell.method.name == "joint-align" for c in plan.not_applicable)
    assert reasons == {f"joint-align fine-tunes the encoder; toy has no trainable weights for {langs}"
                       for langs in ("de, en", "en, fr", "en")}


def test_info_nce_matches_a_hand_computed_value():
    import torch

    from methods.contrastive_align import info_nce

    source, target = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    z = np.array([[1, 0], [0, 1], [1 / np.sqrt(2), 1 / np.sqrt(2)], [0, 1]])
    logits = z @ z.T / 0.5
    np.fill_diagonal(logits, -np.inf)
    positives = [2, 3, 0, 1]
    expected = np.mean([np.log(np.exp(logits[k]).sum()) - logits[k, positives[k]] for k in range(4)])
    assert float(info_nce(source, target, 0.5)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_align_learns_and_align_freeze_keeps_its_frozen_blocks_bit_identical(tiny):
    import torch

    from methods.align_freeze import AlignFreeze
    from methods.contrastive_align import ContrastiveAlign

    model = TrainableModel(tiny)
    method = ContrastiveAlign(sentences_per_language=0, layer=2, epochs=10, lr=3e-3, batch_size=8, max_length=32,
                              projection=16, weight_penalty=0.0, drop_identical=False, freeze_embeddings=False).fit(toy_data(), model)
    first, last = method.record_["loss_first_tenth"][1], method.record_["loss_last_tenth"][1]
    assert last < 0.7 * first, (first, last)
    assert set(model.module.state_dict()) == set(TrainableModel(tiny).module.state_dict())  # the head is not part of it

    model = TrainableModel(tiny)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    AlignFreeze(sentences_per_language=0, layer=2, epochs=2, lr=1e-2, batch_size=8, max_length=32, freeze_layers=1,
                drop_identical=False).fit(toy_data(), model)
    after = model.module.state_dict()
    frozen = [k for k in before if k.startswith(("embeddings.", "encoder.layer.0."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder.layer.1."))


@pytest.mark.parametrize("loss", ["additive-margin", "xlco"])
def test_translation_ranking_loss_matches_a_hand_computed_value(loss):
    import torch

    from methods.translation_ranking import ranking_loss

    source, target = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    cos = np.array([[1.0, 0.0], [1 / np.sqrt(2), 1 / np.sqrt(2)]])
    logits = 20 * (cos - 0.3 * np.eye(2)) if loss == "additive-margin" else cos / 0.25

    def xent(rows):
        return np.mean([np.log(np.exp(rows[i]).sum()) - rows[i, i] for i in range(2)])

    expected = (xent(logits) + xent(logits.T)) / 2
    assert float(ranking_loss(source, target, loss)) == pytest.approx(expected, rel=1e-6)


def test_sentence_level_finetuners_bring_translations_together(tiny):
    import torch

    from methods.distill_multilingual import DistillMultilingual
    from methods.translation_ranking import TranslationRanking

    def gap(model):  # how much closer a sentence is to its translation than to the other sentences
        with torch.no_grad():
            de = torch.nn.functional.normalize(model.mean_pooled(GERMAN, 2, 32), dim=-1)
            en = torch.nn.functional.normalize(model.mean_pooled(ENGLISH, 2, 32), dim=-1)
        similarity = (de @ en.T).numpy()
        return float(np.diag(similarity).mean() - similarity[~np.eye(len(similarity), dtype=bool)].mean())

    model = TrainableModel(tiny)
    before = gap(model)
    ranking = TranslationRanking(sentences_per_language=0, layer=2, epochs=5, lr=3e-3, batch_size=8, max_length=32,
                                 freeze_embeddings=False).fit(toy_data(), model)
    assert gap(model) > before + 0.05, (before, gap(model))
    assert ranking.record_["loss_last_tenth"][0] < ranking.record_["loss_first_tenth"][0]

    model = TrainableModel(tiny)
    with torch.no_grad():
        teacher = model.mean_pooled(ENGLISH, 2, 32)
        distance_before = float(((model.mean_pooled(GERMAN, 2, 32) - teacher) ** 2).mean())
    DistillMultilingual(sentences_per_language=0, layer=2, epochs=5, lr=3e-3, batch_size=8, max_length=32,
                        freeze_embeddings=False).fit(toy_data(), model)
    with torch.no_grad():
        distance_after = float(((model.mean_pooled(GERMAN, 2, 32) - teacher) ** 2).mean())
    assert distance_after < 0.5 * distance_before, (distance_before, distance_after)  # translations reach the teacher


def test_the_ot_loss_equals_pots_sinkhorn_value_and_approaches_the_exact_one():
    import ot
    import torch

    from methods.ot_align import sinkhorn_cost

    rng = np.random.default_rng(0)
    cost = rng.random((4, 6))
    a, b = np.full(4, 1 / 4), np.full(6, 1 / 6)
    ours = float(sinkhorn_cost(torch.tensor(cost), 0.1, 2000))
    assert ours == pytest.approx(float(ot.sinkhorn2(a, b, cost, 0.1, numItermax=10000, stopThr=1e-12)), rel=1e-6)
    assert float(sinkhorn_cost(torch.tensor(cost), 0.002, 5000)) == pytest.approx(float(ot.emd2(a, b, cost)), rel=1e-2)


def test_ot_align_shrinks_the_transport_cost_between_translations(tiny):
    from methods.ot_align import OtAlign

    method = OtAlign(sentences_per_language=0, layer=2, epochs=10, lr=3e-3, batch_size=8, max_length=32,
                     freeze_embeddings=False).fit(toy_data(), TrainableModel(tiny))
    first, last = method.record_["loss_first_tenth"][1], method.record_["loss_last_tenth"][1]
    assert last < 0.7 * first, (first, last)


def test_code_switching_replaces_dictionary_words_and_training_maps_them_onto_the_original(tiny):
    import torch

    from methods.code_switch_proxy import CodeSwitchProxy, code_switch

    rng = np.random.default_rng(0)
    assert code_switch("The dog sleeps", {"dog": "hund", "the": "der"}, 1.0, rng) == "der hund sleeps"
    assert code_switch("The dog sleeps", {"dog": "hund"}, 0.0, rng) == "The dog sleeps"
    method = CodeSwitchProxy(sentences_per_language=0, switch_rate=1.0, layer=2, epochs=5, lr=3e-3, batch_size=8,
                             max_length=32, freeze_embeddings=False)
    examples = method.examples(toy_data())
    assert examples[0] == ("das hund", "the dog", "der hund")  # every word switched at rate 1 ("the": first listed, "das")
    model = TrainableModel(tiny)
    with torch.no_grad():
        teacher = model.mean_pooled(ENGLISH, 2, 32)
        before = float(((model.mean_pooled(GERMAN, 2, 32) - teacher) ** 2).mean())
    method.fit(toy_data(), model)
    with torch.no_grad():
        after = float(((model.mean_pooled(GERMAN, 2, 32) - teacher) ** 2).mean())
    assert after < 0.5 * before, (before, after)


def test_a_pretrained_encoder_method_replaces_the_grids_encoder_once_and_skips_token_tasks(tmp_path):
    from bench.grid import load_grid
    from bench.results import read_jsonl
    from bench.runner import Runner, RunOptions
    from tests.helpers import ToyEncoder, TransformerLikeEncoder, write_fixture_data

    class SentenceOnly(ToyEncoder):
        name, fingerprint, num_layers = "sentence-only", "sentence-only-1", 0

    grid = tmp_path / "grid.toml"
    grid.write_text('name = "swap"\n[[encoders]]\nname = "grid-encoder"\nlayers = [1, 2]\n[[methods]]\nname = "use-m3"\n'
                    '[[tasks]]\nname = "tatoeba"\n[[tasks]]\nname = "cbli"\n')
    made = []

    def factory(name, batch):
        made.append(name)
        return SentenceOnly() if name == "use-m3-offline" else TransformerLikeEncoder()

    options = RunOptions(data_dir=write_fixture_data(tmp_path / "data"), out_dir=tmp_path / "out",
                         cache_dir=tmp_path / "cache", progress=False)
    summary = Runner(load_grid(grid), options, factory).run()
    rows = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert summary.failed == 0 and made.count("use-m3-offline") == 1
    assert {(r["task"], r["layer"]) for r in rows} == {("tatoeba", 2)} and rows[0]["category"] == "f"
    assert rows[0]["anchors"] == {"pretrained_encoder": "use-m3-offline", "fingerprint": "sentence-only-1"}
    reasons = {r["reason"] for r in read_jsonl(tmp_path / "out" / "not_applicable.jsonl")}
    assert any("without layers" in r for r in reasons)


def _states_after(tiny, criterion_values=None, selection="last", seed=0):
    """Weights of the tiny model after a joint-align loop of 8 steps; with `criterion_values`, the
    criterion returns them in turn (initial weights first, then every 2 steps)."""
    from bench.finetune import LoopConfig, train_loop
    from methods.joint_align import JointAlign

    model = TrainableModel(tiny)
    method = JointAlign(layer=2, max_length=32, lr=3e-3, batch_size=4, freeze_embeddings=False)
    original = model.frozen_copy()
    values = iter(criterion_values or [])
    record = train_loop(model, method.examples(toy_data()), lambda batch: method.loss(model, original, batch),
                        LoopConfig(1, 3e-3, 4, selection=selection, evaluations=4), seed, "joint-align",
                        criterion=(lambda: next(values)) if criterion_values else None)
    return {k: v.clone() for k, v in model.module.state_dict().items()}, record


def test_semantic_selection_restores_the_weights_with_the_best_criterion(tiny):
    import torch

    initial = {k: v.clone() for k, v in TrainableModel(tiny).module.state_dict().items()}
    last, last_record = _states_after(tiny)
    assert last_record["steps"] == 8 and last_record["selection"].startswith("fixed")
    kept_initial, record = _states_after(tiny, [0.9, 0.1, 0.2, 0.3, 0.9], selection="semantic")  # tie: the first wins
    assert all(torch.equal(kept_initial[k], initial[k]) for k in initial)
    assert record["selection"].startswith("semantic criterion on held-out pairs: step 0 of 8")
    assert record["criterion"] == [[0, 0.9], [2, 0.1], [4, 0.2], [6, 0.3], [8, 0.9]]
    kept_last, record = _states_after(tiny, [0.1, 0.2, 0.3, 0.4, 0.5], selection="semantic")
    assert all(torch.equal(kept_last[k], last[k]) for k in last) and "step 8 of 8" in record["selection"]
    kept_middle, record = _states_after(tiny, [0.1, 0.2, 0.7, 0.4, 0.5], selection="semantic")
    assert "step 4 of 8" in record["selection"]
    assert not all(torch.equal(kept_middle[k], last[k]) for k in last)
    assert not all(torch.equal(kept_middle[k], initial[k]) for k in initial)


def test_semantic_selection_holds_out_examples_and_scores_them_with_the_papers_criterion(tiny):
    from bench.finetune import semantic_criterion_of
    from bench.diagnostics import semantic_criterion
    from methods.translation_ranking import TranslationRanking

    model = TrainableModel(tiny)
    pairs = list(zip(GERMAN, ENGLISH))
    criterion = semantic_criterion_of(model, pairs, 2, 32, batch_size=3)
    model.module.train()  # as during training: the criterion must run without dropout and leave train mode on
    score = criterion()
    assert model.module.training and model.module.config.hidden_dropout_prob > 0
    assert criterion() == score
    model.module.eval()
    with __import__("torch").no_grad():
        X = model.mean_pooled(GERMAN, 2, 32).numpy()
        Y = model.mean_pooled(ENGLISH, 2, 32).numpy()
    assert score == pytest.approx(semantic_criterion(X, Y), abs=1e-6)
    method = TranslationRanking(layer=2, max_length=32, batch_size=8, selection="semantic", held_out=8, lr=1e-3,
                                freeze_embeddings=False).fit(toy_data(), model)
    record = method.record_
    assert record["held_out_examples"] == 8 and record["examples"] == 32 - 8 and record["steps"] == 3
    assert [step for step, _ in record["criterion"]] == [0, 1, 2, 3] and record["selection"].startswith("semantic")
    with pytest.raises(ValueError, match="holds out 40 of 32 examples"):
        TranslationRanking(layer=2, max_length=32, selection="semantic", held_out=40).fit(toy_data(), TrainableModel(tiny))
    with pytest.raises(ValueError, match="selection must be one of"):
        TranslationRanking(layer=2, max_length=32, selection="best").fit(toy_data(), TrainableModel(tiny))


def test_the_training_library_is_part_of_every_finetuners_code_digest():
    from bench.provenance import digest_sources
    from bench.registry import load_registry

    registry = load_registry(())
    finetuners = [entry for entry in registry.methods.values() if entry.spec.trains_encoder]
    assert len(finetuners) >= 7
    for entry in finetuners:
        covered = set(digest_sources(entry.cls.__module__))
        assert {"bench.finetune", "bench.wordvectors", "bench.diagnostics"} <= covered, entry.name
        assert "bench.registry" not in covered and "bench.specs" not in covered
    for name in ("bli", "cbli", "tatoeba"):  # tasks use bench.wordvectors / bench.diagnostics, not the library
        assert not {"bench.finetune", "bench.wordvectors", "bench.diagnostics"} & set(digest_sources(registry.task(name).cls.__module__))
    assert not {"bench.finetune"} & set(digest_sources(registry.method("procrustes").cls.__module__))


def test_training_reads_each_words_first_sub_token_where_the_evaluation_does(cache_root, data_dir):
    """On real UD sentences and the real tokenizer: the positions the Finetuners train are those
    `bench.wordvectors` reads at evaluation (a bare "▁" piece is never a word's first sub-token)."""
    from bench.encoders.offline_e5 import build_e5_model_dir
    from bench.wordvectors import first_subtokens, join_words

    model = TrainableModel(build_e5_model_dir(cache_root))
    sentences = []
    for path in sorted((data_dir / "ud").rglob("*.conllu"))[:4]:
        words = []
        for line in path.read_text(encoding="utf-8").splitlines()[:400]:
            columns = line.split("\t")
            if len(columns) > 1 and columns[0].isdigit():
                words.append(columns[1])
            elif not line.strip() and words:
                sentences.append(tuple(words))
                words = []
    assert len(sentences) > 20
    ids, mask, first = model.word_batch(sentences, 48)
    pieces = 0
    for row, words in enumerate(sentences):
        text, spans = join_words(words)
        encoded = model.tokenizer(text, truncation=True, max_length=48, return_offsets_mapping=True)
        expected = first_subtokens(encoded["offset_mapping"], spans)
        assert first[row, : len(words)].tolist() == expected.tolist()
        assert ids[row, : len(encoded["input_ids"])].tolist() == encoded["input_ids"]
        tokens = model.tokenizer.convert_ids_to_tokens(encoded["input_ids"])
        pieces += sum(tokens[p] == "▁" for p in expected if p >= 0)
    assert pieces == 0
