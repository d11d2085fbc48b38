"""Child processes of `make run`, the tests and the bench: their environment, reading their first line
of output, stopping them; and the descriptor limit a server of many connections needs."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from typing import Any


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


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> int:
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
