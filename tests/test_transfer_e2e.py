"""Transfer tasks end to end with the offline model on small slices of the real data."""

import pytest

from bench.cli import main
from bench.leaderboard import transfer_table
from bench.results import read_jsonl

pytestmark = pytest.mark.slow

GRID = """
name = "transfer-e2e"
seeds = [0, 1]
[[encoders]]
name = "e5-small-offline"
layers = [8]
[[methods]]
name = "original"
[[methods]]
name = "normalization"
params = { max_sentences = 300 }
[[tasks]]
name = "pos"
params = { train_limit = 300, dev_limit = 100, test_limit = 100 }
languages = ["en", "de"]
[[tasks]]
name = "dp"
params = { train_limit = 300, dev_limit = 100, test_limit = 100, epochs = 4 }
languages = ["en", "de"]
[[tasks]]
name = "ner"
params = { train_limit = 400, dev_limit = 200, test_limit = 100 }
languages = ["en", "es"]
[[tasks]]
name = "xnli"
params = { train_limit = 400, select_limit = 100, test_limit = 100 }
languages = ["en", "de"]
[[tasks]]
name = "xnli"
params = { protocol_name = "finetune", train_limit = 48, select_limit = 16, test_limit = 32, finetune_epochs = 1, finetune_freeze_embeddings = true }
languages = ["de"]
seeds = [0]
[[tasks]]
name = "ner"
params = { protocol_name = "finetune", train_limit = 48, dev_limit = 32, test_limit = 32, finetune_epochs = 1, finetune_freeze_embeddings = true }
languages = ["es"]
seeds = [0]
"""


def test_transfer_grid_end_to_end(tmp_path, data_dir, cache_root, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    args = ["run", "--grid", str(grid), "--data", str(data_dir), "--out", str(tmp_path), "--cache", str(cache_root),
            "--no-progress"]
    assert main(args) == 0
    # frozen: 2 methods x 4 tasks x 2 languages x 2 seeds = 32; fine-tune: original runs (2 cells), normalization
    # only maps frozen vectors: its 2 fine-tune cells (NER, NLI) are planned as not applicable and never run
    out = capsys.readouterr().out
    assert "36 cells planned, 0 already done, 2 not applicable, 34 run, 0 failed" in out
    reasons = [line for line in out.splitlines() if line.strip().startswith("not applicable: 1 cell: ")]
    assert len(reasons) == 2 and all("trains the encoder; normalization only maps frozen vectors" in r for r in reasons)
    rows = read_jsonl(tmp_path / "results" / "results.jsonl")

    def value(task, language, subset, metric, method="original", protocol_end="frozen"):
        found = [r["value"] for r in rows if (r["task"], r["language"], r["subset"], r["metric"], r["method"]) ==
                 (task, language, subset, metric, method) and (r["protocol"].endswith(protocol_end) or task in ("pos", "dp"))]
        assert found, (task, language, subset, metric)
        return sum(found) / len(found)

    # zero-shot German POS and parsing clearly above their baselines; English in-language too
    for language in ("en", "de"):
        assert value("pos", language, "pud-test", "upos_accuracy") > value("pos", language, "pud-test", "baseline_upos_accuracy") + 10
        assert value("dp", language, "pud-test", "uas") > value("dp", language, "pud-test", "baseline_uas") + 5
    assert value("ner", "es", "panx-dev", "f1") > value("ner", "es", "panx-dev", "baseline_f1") + 10
    assert value("xnli", "en", "dev-heldout", "accuracy") > 40
    # both POS metrics, each under its own name
    assert {"upos_accuracy", "upos_xtreme_seqeval_f1"} <= {r["metric"] for r in rows if r["task"] == "pos"}
    # fine-tune rows are marked with their protocol and record the training
    tuned = [r for r in rows if r["protocol"].endswith("-finetune")]
    assert {(r["task"], r["language"]) for r in tuned} == {("xnli", "de"), ("ner", "es")}
    assert all(r["protocol_detail"]["protocol"] == "finetune" and r["method"] == "original" for r in tuned)
    assert all(r["extra"]["best_epoch"] == 1 for r in tuned if r["is_main"])
    # seeds are recorded and the transfer summary shows mean +- sd with in-language next to zero-shot
    assert {r["seed"] for r in rows if r["task"] == "pos"} == {0, 1}
    table = transfer_table(rows)
    assert {"in-language (source)", "zero-shot avg", "baseline zero-shot"} <= set(table.columns)
    assert "±" in table.loc[("original", "control", "e5-small-offline", 8, "pos", "ud-upos-frozen-linear-probe-en-train"),
                            "zero-shot avg"]
    assert "Zero-shot transfer" in (tmp_path / "leaderboard" / "README.md").read_text()
