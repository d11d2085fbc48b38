"""Run `python -m realtime` as a child process: how `make run`, the bench and the tests start it.

A separate process rather than a thread of the gateway: its own event loop and GIL, and the same
shape as a deployed realtime container.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from localenv.process import read_line, stop

ROOT = Path(__file__).resolve().parent.parent


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
    # Its own session: a terminal's Ctrl-C reaches the parent alone, which stops it when its time comes
    # (make run: after the gateway's workers have drained, since they publish to its stream).
    proc = subprocess.Popen([sys.executable, "-m", "realtime"], cwd=ROOT, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)
    line = read_line(proc, timeout)
    if not line.startswith("ws://"):
        Realtime(proc, "").stop()
        raise RuntimeError(f"the realtime server did not start (exit code {proc.poll()})")
    return Realtime(proc, line)
