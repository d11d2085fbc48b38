"""Run `python -m realtime` as a child process: how `make run`, the bench and the tests start it.

A separate process rather than a thread of the gateway: its own event loop and GIL, and the same
shape as a deployed realtime container.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Our environment for a child Python (plus `base`), minus anything that points Python elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(base or {})
    return env


def raise_fd_limit() -> int:
    """One descriptor per connection: lift the soft limit (often 1,024) to the hard one; return it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's next stdout line, or "" if none comes within `timeout` s."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().strip() if ready else ""


def stop(proc: subprocess.Popen[str], timeout: float = 10) -> int:
    """SIGTERM, then wait; kill only if the child does not exit in `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


class Realtime:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc, self.url = proc, url
        self.http_url = url.replace("ws://", "http://", 1).removesuffix("/ws")
        host, _, port = self.http_url.removeprefix("http://").rpartition(":")
        self.host, self.port = host, int(port or 0)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM (connections get 1001), then wait; kill only if it does not exit in `timeout` s."""
        return stop(self.proc, timeout)


def start(env: dict[str, str] | None = None, stderr: IO[str] | int | None = None, timeout: float = 30) -> Realtime:
    """Start the server with `env` (default: ours) and wait until it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "realtime"], cwd=ROOT, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = read_line(proc, timeout)
    if not line.startswith("ws://"):
        Realtime(proc, "").stop()
        raise RuntimeError(f"the realtime server did not start (exit code {proc.poll()})")
    return Realtime(proc, line)
