"""The data dir (IMS_DATA_DIR, default .ims-data/): its lock, and the secrets generated and kept in it.

Two IMS processes on one data dir would corrupt its database, so `make run` holds a lock on it. The
JWT secret and the invoke API's key are generated on first run and kept there (owner-only), so tokens
and `make trigger` keep working across restarts.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from gateway.locks import try_lock

REPO_ROOT = Path(__file__).resolve().parent.parent


class Lock:
    """An exclusive hold on a data dir: two IMS processes on one database directory corrupt it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock(data_dir: Path) -> Lock:
    """Take data_dir/ims.lock or exit with a message naming the process that holds it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = data_dir / "ims.lock"
    fd = try_lock(path, 0o644)
    if fd is None:
        holder = path.read_text(errors="replace")[:32].strip() or "unknown"
        raise SystemExit(f"IMS is already running with data dir {data_dir} (pid {holder}); "
                         "stop it first or set IMS_DATA_DIR")
    # The lock, not the pid, is what counts (it dies with the process); the pid is for the message.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return Lock(path, fd)


def jwt_secret(data_dir: Path) -> str:
    """JWT_SECRET from the environment, else one generated on first run and kept in the data dir."""
    return kept_secret(data_dir, "JWT_SECRET", "jwt_secret", lambda: secrets.token_urlsafe(48))


def api_key(data_dir: Path) -> str:
    """The invoke API's key (__OW_API_KEY, "<uuid>:<key>" like the platform's), kept like JWT_SECRET."""
    from gateway.openwhisk.activations import new_api_key

    return kept_secret(data_dir, *API_KEY, new_api_key)


API_KEY = ("__OW_API_KEY", "api_key")  # its variable, and its file in the data dir


def data_dir() -> Path:
    """IMS_DATA_DIR, by default .ims-data/ in the repository: what `make run` uses."""
    return Path(os.environ.get("IMS_DATA_DIR") or REPO_ROOT / ".ims-data").resolve()


def kept(data_dir: Path, env: str, filename: str) -> str:
    """The secret from the environment, else the one kept in the data dir, else ""."""
    path = data_dir / filename
    return os.environ.get(env) or (path.read_text().strip() if path.exists() else "")


def kept_secret(data_dir: Path, env: str, filename: str, generate: Callable[[], str]) -> str:
    """kept(), generated and kept on first use."""
    found = kept(data_dir, env, filename)
    if found:
        return found
    path = data_dir / filename
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = generate()
    # O_EXCL and 0600 at creation: the secret is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret
