"""Category comparison on planted per-item results: like-for-like languages, winners, ties, gaps."""

import json

import numpy as np
import pytest

from bench import compare
from bench.cli import main
from bench.items import ItemStore
from bench.specs import Category, Items, Score, Statistic

N = 400


def _row(store, method, category, lang, hits, seed=0, encoder="enc", layer=8):
    items = Items(Statistic.MEAN, tuple(range(N)), {"value": hits.astype(float)})
    cell = f"{method}-{lang}-{seed}-{encoder}-{layer}"
    name = store.save(cell, [Score("p1", 100 * hits.mean(), N, items=items)])
    return {"cell_id": cell, "method_label": method, "method_params": {}, "category": category, "encoder": encoder,
            "layer": layer, "task": "tatoeba", "metric": "p1", "protocol": "p", "task_version": "1", "language": lang,
            "subset": "", "seed": seed, "is_main": True, "kind": "task", "higher_is_better": True, "items": name,
            "value": 100 * hits.mean(), "n": N}


@pytest.fixture
def planted(tmp_path):
    rng = np.random.default_rng(0)
    store, rows = ItemStore(tmp_path), []
    for lang in ("de", "fr"):
        base = rng.random(N) < 0.5
        boost = base | (rng.random(N) < 0.3)  # about +15 points
        near = boost.copy()  # as many items won as lost against boost: no real difference
        near[np.flatnonzero(boost)[:6]] = False
        near[np.flatnonzero(~boost)[:6]] = True
        for seed in (0, 1):
            rows.append(_row(store, "original", "control", lang, base, seed))
            rows.append(_row(store, "map-a", "a", lang, boost, seed))
            rows.append(_row(store, "map-b", "b", lang, base, seed))
            rows.append(_row(store, "tune-c", "c", lang, near, seed))
        rows.append(_row(store, "other-encoder", "e", lang, boost, encoder="enc2"))
    rows.append(_row(store, "partial-d", "d", "de", boost))
    return tmp_path, rows


def test_categories_compared_like_for_like_with_winner_ties_and_gaps(planted):
    results_dir, rows = planted
    cells = {c.category: c for c in compare.compare_categories(rows, results_dir, "enc", 8)}
    assert list(cells) == list(compare.CATEGORIES)  # all six listed
    a, b, c, d = cells[Category.A], cells[Category.B], cells[Category.C], cells[Category.D]
    assert a.is_winner and a.best.method == "map-a" and a.setup.languages == ("de", "fr")
    assert a.best.vs_original.delta > 10 and a.best.p_adjusted < 0.05
    assert not b.is_winner and not b.tied_with_winner and b.best.p_adjusted >= 0.05  # = original
    assert c.tied_with_winner and c.best.p_adjusted < 0.05
    assert d.best is None and d.partial == ("partial-d",)  # covers de only: not compared
    assert cells[Category.E].best is None and cells[Category.E].partial == ()  # its rows are another encoder's
    table = compare.comparison_table(list(cells.values()))
    assert table.loc["(e) " + Category.E.description].iloc[0] == "no runnable method"
    assert table.loc["(a) " + Category.A.description].iloc[0].startswith("▲ map-a")


def test_intervals_are_cached_by_content(planted):
    results_dir, rows = planted
    first = compare.IntervalCache(results_dir / "intervals.jsonl")
    compare.compare_categories(rows, results_dir, "enc", 8, cache=first)
    assert first.computed > 0
    again = compare.IntervalCache(results_dir / "intervals.jsonl")
    compare.compare_categories(rows, results_dir, "enc", 8, cache=again)
    assert again.computed == 0


def test_rows_without_items_are_left_out_and_a_missing_file_is_a_clear_error(planted):
    results_dir, rows = planted
    without = [{**r, "items": ""} if r["method_label"] == "map-b" and r["language"] == "de" else r for r in rows]
    methods = {c.method for c in compare.compare_methods(without, results_dir, "enc", 8)}
    assert "map-b" not in methods and "map-a" in methods  # map-b now lacks de: not compared like for like
    (results_dir / rows[0]["items"]).unlink()
    with pytest.raises(FileNotFoundError, match="are missing"):
        compare.compare_methods(rows, results_dir, "enc", 8)


def test_cli_prints_a_pasteable_table(planted, capsys):
    results_dir, rows = planted
    (results_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["compare-categories", "--results", str(results_dir / "results.jsonl"), "--methods"]) == 0
    out = capsys.readouterr().out
    assert "Categories compared at encoder enc, layer 8" in out and "▲ map-a" in out and "no runnable method" in out
    assert "| map-b" in out  # the per-method table


def test_per_column_intervals_pair_each_language_with_original(planted):
    results_dir, rows = planted
    cells = {(c.method, c.language): c for c in compare.per_column(rows, results_dir)}
    boost, null = cells[("map-a", "de")], cells[("map-b", "de")]
    assert boost.vs_original.low > 0 and boost.p_adjusted < 0.05
    assert null.vs_original.delta == 0 and null.p_adjusted >= 0.05
    assert cells[("original", "de")].vs_original is None
    assert boost.score.low < boost.score.delta < boost.score.high


def test_every_pair_of_categories_is_tested(planted):
    results_dir, rows = planted
    cells = compare.compare_categories(rows, results_dir, "enc", 8)
    pairs = {(p.first, p.second): p for p in compare.category_pairs(rows, results_dir, "enc", 8, cells)}
    assert set(pairs) == {(Category.A, Category.B), (Category.A, Category.C), (Category.B, Category.C)}
    assert pairs[(Category.A, Category.B)].p_adjusted < 0.05 and pairs[(Category.A, Category.B)].difference.delta > 10
    assert pairs[(Category.A, Category.C)].p_adjusted >= 0.05
    assert compare.pairs_table(list(pairs.values())).loc["tatoeba p1", "a − b"].endswith("*")


def test_method_pairs_are_paired_on_shared_languages_with_bh(planted):
    results_dir, rows = planted
    pairs = compare.method_pairs(rows, results_dir, "enc", 8, [("map-a", "map-b"), ("map-b", "original"),
                                                               ("partial-d", "map-a")])
    by = {(p.first, p.second): p for p in pairs}
    assert by[("map-a", "map-b")].difference.delta > 10 and by[("map-a", "map-b")].p_adjusted < 0.05
    assert by[("map-b", "original")].difference.delta == 0 and by[("map-b", "original")].p_adjusted >= 0.05
    assert by[("partial-d", "map-a")].languages == ("de",)  # only the language both cover
    assert by[("partial-d", "map-a")].difference.n_items == N  # de's items only, not fr's
    with pytest.raises(KeyError, match="no-such-method"):
        compare.method_pairs(rows, results_dir, "enc", 8, [("no-such-method", "map-a")])


def test_cli_compare_methods_prints_the_pairs(planted, capsys):
    results_dir, rows = planted
    path = results_dir / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["compare-methods", "--results", str(path), "--encoder", "enc", "--layer", "8",
                 "--pair", "map-a", "map-b"]) == 0
    out = capsys.readouterr().out
    assert "map-a − map-b" in out and "tatoeba p1 ↑" in out and "*" in out
