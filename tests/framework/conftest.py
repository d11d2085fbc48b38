"""functions-framework layer: real `functions-framework` servers (gunicorn, as on Cloud Run) started
in subprocesses on the tests' PostgreSQL and Redis, driven over HTTP; a real SMTP server (aiosmtpd)
receives the mail the chained mailer and the digest send."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localenv import process
from tests.conftest import ROOT, free_port, wait_until
from tests.notify.conftest import Inbox

FRAMEWORK = Path(sys.executable).with_name("functions-framework")
SOURCE = "gateway/framework.py"
API_KEY = "7d3c1a2e-0000-4000-8000-000000000001:framework-test-key"
MAILER_SECRET = "framework-test-mailer-secret"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    target: str
    port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        """Until the server accepts connections; fails with its output if it exits first."""
        def up() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"functions-framework --target {self.target} exited:\n{self.output()}")
            return _accepts(self.port)
        wait_until(up, timeout=30, what=f"functions-framework --target {self.target}")


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def framework(target: str, env: dict[str, str], *, wait: bool = True) -> Iterator[Served]:
    """`functions-framework --source gateway/framework.py --target <target>` on a free loopback port;
    stopped (SIGTERM, by its pid) afterwards. With `wait`, returns once it accepts connections."""
    port = free_port()
    environment = process.child_env()
    for name in ("PORT", "__OW_API_HOST", "__OW_API_KEY"):  # the platform sets these, not us
        environment.pop(name, None)
    environment.update(env, WORKERS="1", THREADS="8")
    log = Path(tempfile.mkstemp(prefix=f"ff-{target}-", suffix=".log")[1])
    with log.open("wb") as out:
        child = subprocess.Popen([str(FRAMEWORK), "--source", SOURCE, "--target", target, "--host", "127.0.0.1",
                                  "--port", str(port)], cwd=ROOT, env=environment, stdout=out,
                                 stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", child, log, target, port)
    try:
        if wait:
            served.wait_ready()
        yield served
    finally:
        process.stop(child, 15)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on an ephemeral loopback port: (inbox, port)."""
    from aiosmtpd.controller import Controller

    received = Inbox()
    port = free_port()
    controller = Controller(received, hostname="127.0.0.1", port=port)
    controller.start()
    yield received, port
    controller.stop()


@pytest.fixture(scope="module")
def framework_env(services: dict[str, str], inbox: tuple[Inbox, int]) -> dict[str, str]:
    """What an operator gives the container: the databases, the secrets, the mail transport."""
    return {**services, "SMTP_URL": f"smtp://127.0.0.1:{inbox[1]}", "MAIL_FROM": "IMS <alerts@ims.test>",
            "ALERT_EMAIL_TO": "", "MAILER_SECRET": MAILER_SECRET, "__OW_API_KEY": API_KEY, "PUBLIC_URL": "",
            "METRICS_TOKEN": ""}


@pytest.fixture(scope="module")
def ims(framework_env: dict[str, str]) -> Iterator[Served]:
    """All of IMS: `--target ims`."""
    with framework("ims", framework_env) as served:
        yield served


@pytest.fixture(scope="module")
def boss(manager: dict) -> dict[str, str]:
    """The session's first user, an active manager (tests/conftest.py), signing in here by password."""
    return {"email": manager["user"]["email"], "password": manager["password"]}
