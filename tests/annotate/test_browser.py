"""The labelling page in a real browser: headless Chromium (Debian's package) driven by
Playwright against the app under uvicorn (a real ``embrm annotate`` subprocess for kill -9).
Keyboard labels and undo, kill -9 and resume, two annotators at once, and answers that try to
run script."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _annotate_help import XSS_ANSWERS, write_round
from _require import require, under_ci

require("uvicorn", reason="the serve extra is not installed: pip install 'embrm[serve]'")
sync_api = require(
    "playwright.sync_api", reason="the annotate extra is not installed: pip install 'embrm[annotate]'"
)

from embrm.annotate import AnnotationRound  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium_path() -> str:
    """Debian's chromium (scripts/setup.sh installs it); a missing one fails under CI."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if found is None:
        message = "chromium is not installed: apt-get install chromium (scripts/setup.sh does)"
        if under_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``embrm annotate QUERIES --port P`` as a subprocess."""

    def __init__(self, queries: Path, port: int, log: Path) -> None:
        self.queries, self.port, self.log = queries, port, log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        import httpx

        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "embrm.cli", "annotate", str(self.queries), "--port", str(self.port)]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/app.js", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not start: {self.log.read_text()}")

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def serve(tmp_path):
    servers: list[Server] = []

    def start(queries: Path, port: int | None = None) -> Server:
        server = Server(queries, port or free_port(), tmp_path / "server.log").start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class InProcessServer:
    """The same app under uvicorn in a thread of the test process (no start-up import cost)."""

    def __init__(self, queries: Path, **options) -> None:
        import threading

        import uvicorn

        from embrm.annotate import create_annotate_app

        self.port = free_port()
        app = create_annotate_app(AnnotationRound(queries), **options)
        self.server = uvicorn.Server(uvicorn.Config(app, port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive()
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def serve_here():
    servers: list[InProcessServer] = []

    def start(queries: Path, **options) -> InProcessServer:
        servers.append(InProcessServer(queries, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def open_page(context, url: str):
    page = context.new_page()
    page.goto(url)
    wait_ready(page)
    return page


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=10_000)


def press(page, key: str) -> None:
    page.keyboard.press(key)
    wait_ready(page)


def shown(page) -> tuple[str, str]:
    return page.inner_text("#progress"), page.get_attribute("#pair", "data-pair-id")


def test_keyboard_labels_undo_and_script_in_answers_runs_nothing(browser, serve_here, tmp_path):
    queries = write_round(tmp_path / "round", n=5, answers=XSS_ANSWERS)
    server = serve_here(queries)
    context = browser.new_context()
    page = open_page(context, f"{server.url}/?annotator=alice")
    for i, answer in enumerate(XSS_ANSWERS):  # each one shown as text, nothing run
        assert shown(page) == (f"{i} of 5 labelled", f"p{i:02d}")
        assert page.inner_text("#answer-a").strip() == answer
        assert page.locator("#answer-a img, #answer-a a, #answer-a script").count() == 0
        assert page.evaluate("window.__pwned") is None
        press(page, "a")
    press(page, "t")
    assert shown(page) == ("4 of 5 labelled", "p04")
    press(page, "u")
    assert shown(page) == ("3 of 5 labelled", "p03")
    press(page, "b")
    press(page, "s")
    assert page.inner_text("#progress") == "5 of 5 labelled" and page.is_visible("#done")
    assert "s per label" in page.inner_text("#pace")
    votes = AnnotationRound(queries).votes()
    assert votes.select("pair_id", "label").rows() == [
        ("p00", "a"), ("p01", "a"), ("p02", "a"), ("p03", "b"), ("p04", "skip"),
    ]  # fmt: skip
    assert set(votes["annotator"]) == {"alice"}
    context.close()


def test_kill_9_mid_round_loses_nothing_and_resumes(browser, serve, tmp_path):
    queries = write_round(tmp_path / "round", n=6)
    server = serve(queries)
    context = browser.new_context()
    page = open_page(context, f"{server.url}/?annotator=alice")
    for key in ("a", "b", "t"):
        press(page, key)
    server.kill9()
    page.close()  # the tab is closed too
    restarted = serve(queries, server.port)
    page = open_page(context, f"{restarted.url}/?annotator=alice")
    assert shown(page) == ("3 of 6 labelled", "p03")
    press(page, "a")
    labels = AnnotationRound(queries).votes()["label"].to_list()
    assert labels == ["a", "b", "tie", "a"]
    context.close()


def test_two_annotators_label_at_once_and_see_their_own_progress(browser, serve_here, tmp_path):
    queries = write_round(tmp_path / "round", n=4)
    server = serve_here(queries)
    alice_context, bob_context = browser.new_context(), browser.new_context()
    alice = open_page(alice_context, f"{server.url}/?annotator=alice")
    bob = open_page(bob_context, f"{server.url}/?annotator=bob")
    for a_key, b_key in (("a", "b"), ("a", "b"), ("t", "b")):
        alice.keyboard.press(a_key)  # both requests in flight at once
        bob.keyboard.press(b_key)
        wait_ready(alice)
        wait_ready(bob)
    press(bob, "a")
    assert shown(alice) == ("3 of 4 labelled", "p03")
    assert bob.inner_text("#progress") == "4 of 4 labelled"
    votes = AnnotationRound(queries).votes()
    assert sorted(votes.select("annotator", "pair_id", "label").rows()) == sorted(
        [("alice", f"p0{i}", label) for i, label in enumerate("aa") ] + [("alice", "p02", "tie")]
        + [("bob", f"p0{i}", "b") for i in range(3)] + [("bob", "p03", "a")]
    )  # fmt: skip
    alice_context.close()
    bob_context.close()


def test_the_token_from_the_address_reaches_the_api_and_next_batch_adds_pairs(browser, serve_here, tmp_path):
    import numpy as np
    import polars as pl

    from embrm.active import select_queries, within_prompt_pool, write_queries
    from embrm.annotate import NextBatch

    frame = pl.DataFrame({"prompt": ["q"] * 6 + ["r"] * 6, "response": [f"answer {i}" for i in range(12)]})
    pool = within_prompt_pool(frame)
    X = np.random.default_rng(0).standard_normal((12, 8))
    (tmp_path / "round").mkdir()
    queries = write_queries(select_queries(pool, X, 3, strategy="random"), tmp_path / "round" / "queries.csv")
    server = serve_here(queries, token="s3cret", next_batch=NextBatch(pool, X, "dopt", budget=4))
    context = browser.new_context()
    refused = open_page(context, f"{server.url}/?annotator=alice")  # no token: the API says why
    assert "bearer token" in refused.inner_text("#status") and refused.is_hidden("#pair")
    page = open_page(context, f"{server.url}/?annotator=alice#token=s3cret")
    for key in ("a", "b", "a"):
        press(page, key)
    assert page.inner_text("#progress") == "3 of 3 labelled" and page.is_visible("#done")
    page.click("#next-batch")
    wait_ready(page)
    assert page.inner_text("#progress") == "3 of 7 labelled" and page.is_visible("#pair")
    assert page.inner_text("#status") == "4 pairs added"
    assert len(AnnotationRound(queries).pair_ids()) == 7
    context.close()
