"""Helpers of the reward service's tests: the static encoder on a cache, a free loopback port,
and a running ``embrm serve`` subprocess."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Why a test of the service skips on a machine without the web stack (never under CI).
SERVE_EXTRA = "the serve extra is not installed: pip install 'embrm[serve]'"


def static_encoder(cache: Path, write_cache: bool = False):
    from embrm import Encoder

    return Encoder("static", cache_dir=cache, show_progress=False, write_cache=write_cache)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``embrm serve`` subprocess."""

    process: subprocess.Popen
    port: int
    host: str = "127.0.0.1"
    log: Path = field(default=Path())

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def wait_healthy(server: Server, timeout: float = 60.0) -> None:
    """Poll ``/health`` until it answers (the process must stay alive)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"embrm serve exited with {server.process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"embrm serve did not answer /health in {timeout} s:\n{server.output()}")
