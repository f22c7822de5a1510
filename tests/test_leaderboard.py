import filecmp

from bench.leaderboard import MISSING, aggregate, correlation_table, diagnostics_table, render, render_results, task_tables
from tests.conftest import REPO


def _row(method, lang, value, seed=0, task="tatoeba", category="a", cell=None):
    return {"cell_id": cell or f"{method}-{task}-{lang}-{seed}", "method_label": method, "category": category,
            "encoder": "e5", "layer": 8, "task": task, "protocol": "p", "task_version": "1", "metric": "m",
            "language": lang, "subset": "", "value": value, "seed": seed, "n": 10, "is_main": True, "kind": "task"}


ROWS = [_row("procrustes", "de", 90.0, 0), _row("procrustes", "de", 92.0, 1), _row("procrustes", "zh", 70.0, 0),
        _row("procrustes", "zh", 72.0, 1), _row("original", "de", 80.0, 0, category="control"),
        _row("original", "de", 80.0, 1, category="control")]


def test_seeds_are_averaged_and_missing_cells_are_not_zero(tmp_path):
    table = task_tables(aggregate(ROWS))["tatoeba (m; p v1)"]
    assert table.loc[("procrustes", "a", "e5", 8), "de"] == "91.0 ± 1.4"
    assert table.loc[("original", "control", "e5", 8), "zh"] == MISSING
    render(ROWS, [], tmp_path)
    overview = (tmp_path / "README.md").read_text()
    assert "| **81.0** |" in overview  # procrustes macro average of 91 and 71, the best of its column
    assert "| 80.0† | 1/2 |" in overview  # original covers one of two languages: marked, coverage in its own column
    assert "| 0.0" not in overview


def test_rendering_is_deterministic(tmp_path):
    render(ROWS, [], tmp_path / "a")
    render(list(reversed(ROWS)), [], tmp_path / "b")
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not comparison.diff_files and not comparison.left_only
    html = (tmp_path / "a" / "index.html").read_text()
    assert html.startswith("<!doctype html>") and "<table" in html and "<script src" not in html and "<link" not in html


def test_failed_cells_are_listed(tmp_path):
    error = {"cell_id": "x", "method_label": "procrustes", "task": "tatoeba", "language": "hi", "layer": 8,
             "error_type": "MissingResourceError"}
    render(ROWS, [error], tmp_path)
    assert "MissingResourceError" in (tmp_path / "README.md").read_text()


def test_committed_leaderboard_is_up_to_date(tmp_path):
    results = REPO / "results" / "results.jsonl"
    assert results.is_file(), "results/results.jsonl is committed with the default grid's results"
    render_results(results, tmp_path)
    committed = REPO / "leaderboard"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for name in fresh:
        assert (committed / name).read_text() == (tmp_path / name).read_text(), f"leaderboard/{name} is stale: run `alignbench leaderboard`"
    stale = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and p.relative_to(committed) not in fresh)
    assert not stale, f"leaderboard files no rendering writes any more: {stale}"


def _diag(method, lang, metric, value, higher=True, main=True, seed=0):
    return {**_row(method, lang, value, seed, task="isotropy", cell=f"{method}-iso-{lang}-{seed}"), "metric": metric,
            "kind": "diagnostic", "is_main": main, "higher_is_better": higher}


def test_diagnostics_and_their_correlation_with_task_scores(tmp_path):
    """Hand-made rows: the diagnostic rises with the task score for four methods x two languages."""
    methods = ["m1", "m2", "m3", "m4"]
    task_values = {("m1", "de"): 10.0, ("m2", "de"): 20.0, ("m3", "de"): 30.0, ("m4", "de"): 45.0,
                   ("m1", "zh"): 12.0, ("m2", "zh"): 15.0, ("m3", "zh"): 33.0, ("m4", "zh"): 40.0}
    diag_values = {key: 0.5 * value + (3.0 if key[1] == "zh" else 0.0) for key, value in task_values.items()}
    rows = [_row(m, lang, v, task="sts") | {"language": f"{lang}-en"} for (m, lang), v in task_values.items()]
    rows += [_diag(m, lang, "avg_cosine", v, higher=False) for (m, lang), v in diag_values.items()]
    rows += [_diag(m, lang, "partition_ratio", 1.0, main=False) for m in methods for lang in ("de", "zh")]
    rows += [_diag("m1", "en", "avg_cosine", 99.0, higher=False)]  # English has no task partner: not matched

    table = diagnostics_table(rows)
    assert table.loc[("m1", "a", "e5", 8), "isotropy avg_cosine ↓"] == "37.7"  # (5 + 9 + 99) / 3 languages
    assert table.loc[("m2", "a", "e5", 8), "isotropy avg_cosine ↓"] == "10.2 (2/3)"

    import numpy as np

    keys = sorted(task_values)
    expected = np.corrcoef([diag_values[k] for k in keys], [task_values[k] for k in keys])[0, 1]
    by_lang = {lang: np.mean([v for (m, l), v in task_values.items() if l == lang]) for lang in ("de", "zh")}
    d_by_lang = {lang: np.mean([v for (m, l), v in diag_values.items() if l == lang]) for lang in ("de", "zh")}
    within = np.corrcoef([diag_values[k] - d_by_lang[k[1]] for k in keys], [task_values[k] - by_lang[k[1]] for k in keys])[0, 1]
    corr = correlation_table(rows)
    assert corr.loc["isotropy avg_cosine", "sts m"] == f"{expected:+.2f} / {within:+.2f} (8)"
    assert corr.loc["isotropy partition_ratio", "sts m"] == MISSING  # constant: no correlation defined
    render(rows, [], tmp_path)
    board = (tmp_path / "README.md").read_text()
    assert "## Diagnostics" in board and "Do diagnostics predict task scores?" in board
    assert not aggregate(rows).query("task == 'isotropy'").shape[0]  # diagnostics stay out of the task tables


def test_training_seeds_pool_under_one_label_with_their_spread(tmp_path):
    from bench.leaderboard import pool_training_seeds

    def trained(label, seed, value, task_seed=0, **params):
        return {**_row(label, "de", value, seed=task_seed, category="c", cell=f"{label}-{task_seed}"),
                "method_params": {"seed": seed, **params}}

    rows = [trained("joint-align", 0, 80.0), trained("joint-align[seed=1]", 1, 84.0),
            trained("joint-align[seed=2]", 2, 88.0), trained("translation-ranking[loss=xlco]", 0, 70.0, loss="xlco"),
            trained("translation-ranking[loss=xlco,seed=1]", 1, 72.0, loss="xlco"),
            trained("head-seeds", 0, 60.0, task_seed=0), trained("head-seeds", 0, 62.0, task_seed=1),
            _row("original", "de", 50.0, category="control")]
    pooled = pool_training_seeds(rows)
    assert {r["method_label"] for r in pooled} == {"joint-align", "translation-ranking[loss=xlco]", "head-seeds", "original"}
    table = task_tables(aggregate(pooled))["tatoeba (m; p v1)"]
    assert table.loc[("joint-align", "c", "e5", 8), "de"] == "84.0 ± 4.0"
    assert table.loc[("translation-ranking[loss=xlco]", "c", "e5", 8), "de"] == "71.0 ± 1.4"
    assert table.loc[("head-seeds", "c", "e5", 8), "de"] == "61.0 ± 1.4"
    assert table.loc[("original", "control", "e5", 8), "de"] == "50.0"
    render(rows, [], tmp_path)
    assert "84.0 ± 4.0" in (tmp_path / "tatoeba.md").read_text()
    assert "joint-align[seed=1]" not in (tmp_path / "README.md").read_text()


def test_weight_changing_methods_are_compared_with_original_and_the_best_map_on_the_same_columns():
    from bench.leaderboard import pool_training_seeds, weight_changing_table

    def trained(label, seed, lang, value):
        return {**_row(label, lang, value, category="c", cell=f"{label}-{lang}"), "method_params": {"seed": seed},
                "anchors": {"checkpoint": f"k{seed}"}}

    rows = [trained("joint-align", 0, "de", 80.0), trained("joint-align[seed=1]", 1, "de", 84.0),
            _row("original", "de", 70.0, category="control"), _row("original", "zh", 10.0, category="control"),
            _row("procrustes", "de", 85.0), _row("procrustes", "zh", 0.0),
            _row("gbdd", "de", 90.0, category="b"),
            _row("partial-map", "zh", 99.0)]  # misses German: never the best map for a German-only method
    other_encoder = {**_row("original", "de", 0.0, category="control"), "encoder": "other", "cell_id": "o2"}
    other_protocol = {**_row("procrustes", "de", 99.0), "protocol": "finetune", "cell_id": "p2"}
    table = weight_changing_table(pool_training_seeds(rows + [other_encoder, other_protocol]))
    assert table.loc[("joint-align", "e5", "L8"), "tatoeba m (p v1)"] == "82.0 ± 2.8 (+12.0/-8.0)"
    assert list(table.index) == [("joint-align", "e5", "L8")] and list(table.columns) == ["tatoeba m (p v1)"]
    assert weight_changing_table(pool_training_seeds(rows[2:])).empty
