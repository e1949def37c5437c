"""Debian's Chromium for Playwright: one recipe for the browser tests, the dashboard benchmark
and scripts/screenshots.py (never `playwright install`: it downloads a browser and fails here)."""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A Streamlit page whose script has finished and whose websocket is connected.
READY = (
    '[data-testid="stApp"][data-test-script-state="notRunning"]'
    '[data-test-connection-state="CONNECTED"]'
)
