"""Regenerate docs/screenshots/<view>.png: one 1400x900 screenshot of each dashboard view.

    .venv/bin/python scripts/screenshots.py                   # builds a demo store first
    .venv/bin/python scripts/screenshots.py --config PATH     # uses an existing feeds.yaml

Without --config it runs `monitor demo --no-dashboard` (30 days, 12 outlets) into a temporary
folder and adds a few alert rules (`DEMO_ALERTS`) to its feeds.yaml, for the Alerts page. It
then starts `streamlit run dashboard.py` on a free port and drives Debian's Chromium with
Playwright (never `playwright install`). Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
sys.path.insert(0, str(ROOT))
from tests.browser import CHROMIUM, CHROMIUM_ARGS, READY, streamlit_server  # noqa: E402

# view -> query string of the link it is taken from
SHOTS = {
    "overview": "range=30d",
    "timeline": "view=timeline&range=30d&e=Talia+Brenwick&e=Ramon+Olaizabal&e=Vellacourt+Bank",
    "compare": "view=compare&range=30d",
    "co-mentions": "view=co-mentions&range=30d",
    "sources": "view=sources&range=30d",
    "articles": "view=articles&range=30d&e=Talia+Brenwick",
    "discover": "view=discover&range=7d",
    "alerts": "view=alerts&range=30d",
    "feeds": "view=feeds&range=30d",
}
# rules for the Alerts page of the demo (the demo world has a known spike of Talia Brenwick)
DEMO_ALERTS = """\
  - name: Brenwick spike
    when: spike
    entity: Talia Brenwick
    window: 24h
    baseline: 7d
    factor: 2
    min: 10
  - name: Bank and minister together
    when: together
    entities: [Vellacourt Bank, Ramon Olaizabal]
    window: 24h
    min: 4
"""


def build_demo(folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor.cli",
            "demo",
            "--no-dashboard",
            "--dir",
            str(folder),
            "--days",
            "30",
            "--outlets",
            "12",
            "--articles-per-day",
            "120",
        ],
        cwd=ROOT,
        check=True,
    )
    config = folder / "feeds.yaml"
    text = config.read_text()
    if re.search(r"^alerts:", text, re.MULTILINE):  # the demo's own spike rule: add to it
        text = re.sub(
            r"^alerts:.*\n", lambda m: m.group(0) + DEMO_ALERTS, text, count=1, flags=re.MULTILINE
        )
    else:
        text += "\nalerts:\n" + DEMO_ALERTS
    config.write_text(text)
    return config


def settle(page: Any) -> None:
    """Wait until the app has finished its run and charts are drawn."""
    page.wait_for_selector(READY, timeout=60_000)
    page.wait_for_timeout(600)
    page.wait_for_selector(READY, timeout=60_000)
    for chart in page.locator('[data-testid="stPlotlyChart"]').all():
        chart.locator(".main-svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(800)


def take(url: str, views: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for view in views:
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(f"{url}/?{SHOTS[view]}")
                settle(page)
                if page.get_by_text("cannot be used; fix these").count():
                    raise SystemExit(f"error: the dashboard refused the config ({view})")
                page.screenshot(path=str(OUT / f"{view}.png"))
                print(f"wrote {OUT / f'{view}.png'}")
                context.close()
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, help="feeds.yaml of an existing store")
    ap.add_argument("--view", action="append", choices=sorted(SHOTS), help="only these views")
    args = ap.parse_args()
    views = args.view or list(SHOTS)
    with tempfile.TemporaryDirectory(prefix="mm-shots-") as tmp:
        config = args.config or build_demo(Path(tmp) / "demo")
        with streamlit_server(config.absolute(), timeout=60) as (_, url):
            take(url, views)
    return 0


if __name__ == "__main__":
    sys.exit(main())
