"""The leaderboard page: escaping, best-per-column, missing-cell reasons, self-containment, and (where
Debian's chromium and selenium are installed) a real headless browser that sorts a table."""

import shutil

import numpy as np
import pandas as pd
import pytest

from bench.leaderboard import aggregate, missing_reasons, render, task_boards
from bench.page import Board, page_html, to_html, to_markdown
from tests.test_leaderboard import ROWS, _row


def _board():
    index = pd.Index(["a|b <i>", "plain"], name="method")
    values = pd.DataFrame({"acc": [90.0, 80.0], "aer": [10.0, 5.0]}, index=index)
    text = values.map(lambda v: f"{v:.1f}")
    return Board(text, values, {"acc": True, "aer": False}, rank=True)


def test_markdown_escapes_pipes_and_html_and_bolds_the_best_by_direction():
    md = to_markdown(_board())
    assert "a\\|b &lt;i&gt;" in md and "<i>" not in md
    assert "| **90.0** | 10.0 |" in md and "| 80.0 | **5.0** |" in md  # acc: higher is better, aer: lower
    assert "acc ↑" in md and "aer ↓" in md


def test_html_cells_carry_sort_values_and_best_marks():
    table = to_html(_board(), "t")
    assert "data-v='90.0'" in table and "class='num best' data-v='5.0'" in table
    assert "&lt;i&gt;" in table


def test_missing_cells_say_why():
    rows = ROWS + [_row("procrustes", "hi", 60.0)]
    errors = [{"cell_id": "boom", "method_label": "original", "encoder": "e5", "layer": 8, "task": "tatoeba",
               "language": "zh", "error_type": "ValueError", "message": "bad"}]
    skipped = [{"cell_id": "na", "method_label": "original", "encoder": "e5", "layer": 8, "task": "tatoeba",
                "language": "hi", "reason": "no data"}]
    boards = task_boards(aggregate(rows), {}, missing_reasons(errors, skipped, {r["cell_id"] for r in rows}))
    text = boards["tatoeba (m; p v1)"].text
    assert text.loc[("original", "control", "e5", 8), "zh"] == "failed"
    assert text.loc[("original", "control", "e5", 8), "hi"] == "n/a"


def test_page_is_self_contained_with_toc_and_failures_on_top(tmp_path):
    error = {"cell_id": "x", "method_label": "procrustes", "task": "tatoeba", "language": "hi", "layer": 8,
             "encoder": "e5", "error_type": "MissingResourceError", "message": "no parallel data for hi"}
    render(ROWS, [error], tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert "<nav class='toc'>" in page and "<script>" in page and "<script src" not in page and "<link" not in page
    assert page.index("no parallel data for hi") < page.index("<h2 id='overview")


def _browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("Debian's chromium and chromedriver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)


def test_a_real_browser_sorts_a_table_without_console_errors(tmp_path):
    browser = _browser()
    try:
        board = Board(pd.DataFrame({"score": ["2.0", "10.0", "—"]}, index=pd.Index(["b", "a", "c"], name="m")),
                      pd.DataFrame({"score": [2.0, 10.0, np.nan]}, index=pd.Index(["b", "a", "c"], name="m")),
                      {"score": True})
        from bench.page import Section

        path = tmp_path / "page.html"
        path.write_text(page_html("t", "meta", [Section("S", "", board)]))
        browser.get(path.as_uri())
        header = browser.find_elements("css selector", "#t0 th")[1]
        header.click()
        order = [r.find_elements("css selector", "td")[0].text for r in browser.find_elements("css selector", "#t0 tbody tr")]
        assert order == ["b", "a", "c"]  # ascending, the missing cell last
        header.click()
        order = [r.find_elements("css selector", "td")[0].text for r in browser.find_elements("css selector", "#t0 tbody tr")]
        assert order == ["a", "b", "c"]
        assert browser.get_screenshot_as_png()[:4] == b"\x89PNG"
        assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.quit()


from tests.test_compare import planted  # noqa: E402,F401  (the fixture: planted per-item results)


def test_page_with_per_item_results_has_the_category_comparison_figures_and_method_pages(planted, tmp_path):
    results_dir, rows = planted
    written = render(rows, [], tmp_path / "board", results_dir=results_dir)
    page = (tmp_path / "board" / "index.html").read_text()
    assert "<h2 id='category-comparison-enc-l8'>" in page and "▲ map-a" in page and "no runnable method" in page
    assert page.count("<svg") >= 2  # the category plot and the task heatmap
    method_page = tmp_path / "board" / "methods" / "map-a.html"
    assert method_page in written and "Against original, with intervals" in method_page.read_text()
    assert "Per language, with intervals" in method_page.read_text()
    again = tmp_path / "again"
    render(list(reversed(rows)), [], again, results_dir=results_dir)
    assert (again / "index.html").read_text() == page  # deterministic, figures included
