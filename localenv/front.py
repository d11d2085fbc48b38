"""`python -m gateway.serve` (the self-hosted front) in a child process on a free loopback port: what
the tests of the front and the bench run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localenv import process

ROOT = Path(__file__).resolve().parent.parent


class Front:
    """The front in a child process on 127.0.0.1 and a free port, logging to `log`. `env` is the whole
    environment of the child. Its own process group (the pid's), which a test signals as a terminal's
    Ctrl-C would."""

    def __init__(self, env: dict[str, str], log: Path, timeout: float = 60) -> None:
        self.log = log
        env = {**env, "IMS_HOST": "127.0.0.1", "IMS_PORT": "0"}
        with open(log, "w") as sink:
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway.serve"], cwd=ROOT, env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=sink, stdin=subprocess.DEVNULL,
                                         start_new_session=True)  # a group of its own, as under a terminal
        self.url = process.read_line(self.proc, timeout)  # the front prints its URL once it listens
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the front did not start:\n{self.text()}")
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        return process.stop(self.proc, timeout)
