"""Take the screenshot of the labelling page shown in docs/annotate.md (docs/img/annotate.png).

Serves a small demo round with ``embrm.annotate`` on a free loopback port (uvicorn in a
thread) and photographs it in Debian's headless chromium through Playwright:

    python scripts/annotate_screenshot.py
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

from embrm._core.files import atomic_write_bytes
from embrm.active import write_queries
from embrm.annotate import AnnotationRound, create_annotate_app

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img" / "annotate.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

PROMPT = "How do I reverse a list in Python without changing the original?"
ANSWER_A = """Use slicing, which returns a **new** list:

```python
items = [1, 2, 3]
reversed_items = items[::-1]
```

- `items` is unchanged
- works for tuples and strings too"""
ANSWER_B = """Call `items.reverse()`.

It reverses the list in place and returns `None`."""


def main() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp()) / "round1"
    folder.mkdir()
    queries = pl.DataFrame(
        {
            "pair_id": ["5f0c2a9d41be7e3a10c4", "8a1d44e0c2f9b7d35e61", "c93e07a1d5f24b8e9a02"],
            "prompt_id": ["0", "1", "2"],
            "prompt": [PROMPT, "Name a prime number.", "Say hello."],
            "response_a": [ANSWER_A, "4", "Hello!"],
            "response_b": [ANSWER_B, "7", "<script>alert(1)</script> hi"],
            "label": [None, None, None],
        },
        schema_overrides={"label": pl.String},
    )
    round_ = AnnotationRound(write_queries(queries, folder / "queries.csv"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_annotate_app(round_, annotator="alice"), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 640})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("body[data-ready='1']", state="attached")
            OUT.parent.mkdir(exist_ok=True)
            atomic_write_bytes(OUT, page.screenshot(full_page=True), what="the screenshot")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
