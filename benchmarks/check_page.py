"""Open the rendered leaderboard in headless Chromium: screenshot, sort a table, report console errors.

    python benchmarks/check_page.py [leaderboard/index.html] [--screenshot /tmp/leaderboard.png]

Needs Debian's `chromium` and `chromedriver` and the `browser` extra (selenium). Prints the page's
size, its rendered height, how many tables sort, and every console message of level SEVERE; exits 1
if a table does not sort or the console has errors.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("page", nargs="?", default="leaderboard/index.html")
    parser.add_argument("--screenshot", default="/tmp/leaderboard.png")
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={args.width},1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    browser = webdriver.Chrome(service=service, options=options)
    page = Path(args.page).resolve()
    try:
        start = time.perf_counter()
        browser.get(page.as_uri())
        loaded = time.perf_counter() - start
        height = browser.execute_script("return document.documentElement.scrollHeight")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        tables = browser.find_elements("css selector", "table.sortable")
        figures = browser.find_elements("css selector", "figure svg")
        sorted_ok = 0
        for table in tables[:5]:
            headers = table.find_elements("css selector", "th")
            column = len(headers) - 1
            before = [r.find_elements("css selector", "td")[0].text for r in table.find_elements("css selector", "tbody tr")]
            browser.execute_script("arguments[0].click()", headers[column])
            after = [r.find_elements("css selector", "td")[0].text for r in table.find_elements("css selector", "tbody tr")]
            sorted_ok += sorted(before) == sorted(after) and headers[column].get_attribute("aria-sort") == "ascending"
        browser.set_window_size(args.width, min(int(height), 16000))
        browser.save_screenshot(args.screenshot)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        browser.quit()
    print(f"{page}: {page.stat().st_size / 1e6:.2f} MB, loaded in {loaded:.2f} s, rendered {width} x {height} px, "
          f"{len(tables)} sortable tables ({sorted_ok} of the first {min(5, len(tables))} sorted), {len(figures)} figures")
    print(f"screenshot: {args.screenshot}")
    for error in errors:
        print(f"console error: {error['message']}")
    return 0 if not errors and sorted_ok == min(5, len(tables)) else 1


if __name__ == "__main__":
    sys.exit(main())
