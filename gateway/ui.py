"""The web UI as the gateway serves it (README, "Web UI"): the static files of `ui/` at the repository
root, and `/config.json`, written from the settings, telling the UI where the API and the live feed are.

Every answer carries the Content-Security-Policy the UI is written for (its own origin, the API's, the
live feed's; no inline script or style, no eval), `nosniff` and `no-referrer`; `Cache-Control: no-cache`
with a strong ETag, so a browser revalidates each file and gets a 304 while it is unchanged.

Nothing outside `ui/` can be reached: the path is decoded once, any `.`/`..`/empty segment, backslash,
NUL or control character is refused, and the resolved file (symbolic links followed) must still lie
under `ui/`. Directories are never listed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from shared import errors, settings
from shared.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent / "ui"
DEFAULT_API_BASE = "/api/v1"
DEFAULT_WS_PORT = 8001

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
# Files up to this size are kept in memory (and re-read when their mtime or size changes).
CACHE_LIMIT = 512 * 1024
ALLOW = "GET, HEAD"

# What may stand in a URL that goes into the CSP header: a space, `;` or `,` would add directives or
# sources, a quote a keyword.
_CSP_UNSAFE = re.compile(r"[\s;,'\"\x00-\x1f\x7f]")
_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")
_BAD_SEGMENT = re.compile(r"[\\\x00-\x1f\x7f]")

Headers = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Config:
    """IMS_UI_API_BASE, IMS_UI_WS_URL (empty: the request's host at IMS_WS_PORT) and how far to believe
    X-Forwarded-Proto (the gateway's IMS_TRUST_PROXY hops)."""

    api_base: str = DEFAULT_API_BASE
    ws_url: str = ""
    ws_port: int = DEFAULT_WS_PORT
    trusted_proxies: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, trusted_proxies: int = 0) -> Config:
        """The settings, checked now: a bad one stops the start, naming its key."""
        env = os.environ if env is None else env
        api_base = check_api_base(env.get("IMS_UI_API_BASE") or DEFAULT_API_BASE)
        ws_url = check_ws_url(env.get("IMS_UI_WS_URL") or "")
        port = env.get("IMS_WS_PORT") or str(DEFAULT_WS_PORT)
        if not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"IMS_WS_PORT must be a port number, not {port!r}")
        ws_port = int(port)
        return cls(api_base, ws_url, ws_port, trusted_proxies)


def check_api_base(raw: str) -> str:
    problem = (f"IMS_UI_API_BASE must be an absolute http(s) URL (https://api.example.com/api/v1) or a path "
               f"starting with / (/api/v1), not {raw!r}")
    if _CSP_UNSAFE.search(raw):
        raise ConfigError(problem)
    parts = urlsplit(raw)
    if parts.query or parts.fragment:
        raise ConfigError(problem)
    if parts.scheme or parts.netloc:
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ConfigError(problem)
        _port(parts, "IMS_UI_API_BASE", raw)
    elif not raw.startswith("/") or raw.startswith("//"):
        raise ConfigError(problem)
    return raw.rstrip("/") or "/"


def check_ws_url(raw: str) -> str:
    if not raw:
        return ""
    parts = urlsplit(raw)
    if (_CSP_UNSAFE.search(raw) or parts.scheme not in ("ws", "wss") or not parts.hostname or "@" in parts.netloc
            or parts.fragment):
        raise ConfigError(f"IMS_UI_WS_URL must be a ws:// or wss:// URL (wss://live.example.com/ws), not {raw!r}")
    _port(parts, "IMS_UI_WS_URL", raw)
    return raw


def _port(parts: Any, key: str, raw: str) -> None:
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"{key} has a bad port: {raw!r}") from None


def origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, as a CSP source."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def security_headers(api_base: str, ws_url: str) -> Headers:
    """The headers every UI answer carries: only the UI's own origin, the API's and the live feed's."""
    connect = ["'self'"]
    if not api_base.startswith("/"):
        connect.append(origin(api_base))
    connect.append(origin(ws_url))
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
              f"connect-src {' '.join(dict.fromkeys(connect))}; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'")
    return [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer")]


@dataclass(frozen=True, slots=True)
class _File:
    mtime_ns: int
    size: int
    body: bytes
    etag: str
    suffix: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def not_modified(if_none_match: str, etag: str) -> bool:
    """If-None-Match lists the ETag (weakly compared, as RFC 9110 says for this header) or is *."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return "*" in tags or etag in (tag.removeprefix("W/") for tag in tags)


class Site:
    """`ui/` and /config.json. `answer()` is called for every GET or HEAD outside the API's paths."""

    def __init__(self, config: Config, root: Path = ROOT) -> None:
        self.config = config
        self.root = root.resolve()
        self._files: dict[Path, _File] = {}
        self._lock = threading.Lock()
        # Per (scheme, host) when the live feed's URL follows the request's host; bounded, since the
        # Host header is the client's to choose.
        self._per_host = functools.lru_cache(maxsize=64)(self._for_host)

    @classmethod
    def from_env(cls, trusted_proxies: int = 0) -> Site:
        return cls(Config.from_env(trusted_proxies=trusted_proxies))

    def answer(self, method: str, path: str, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
        if method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowed("The web UI is read with GET.", headers={"Allow": ALLOW})
        security, config_json, config_etag = self._per_host(*self._scheme_and_host(environ))
        if path == "/config.json":
            content_type, body, etag = "application/json", config_json, config_etag
        else:
            file = self._read(self._locate(path))
            content_type = TYPES.get(file.suffix, "application/octet-stream")
            body, etag = file.body, file.etag
        headers = [("Cache-Control", "no-cache"), ("ETag", etag), *security]
        if not_modified(environ.get("HTTP_IF_NONE_MATCH", ""), etag):
            return 304, headers, b""
        return 200, [("Content-Type", content_type), *headers], body

    def _for_host(self, scheme: str, host: str) -> tuple[Headers, bytes, str]:
        ws_url = self.config.ws_url or f"{'wss' if scheme == 'https' else 'ws'}://{host}:{self.config.ws_port}/ws"
        # Whether the sign-in page offers registration (ALLOW_SELF_REGISTRATION); the API decides anyway.
        registration = settings.get().allow_self_registration
        body = json.dumps({"api_base": self.config.api_base, "ws_url": ws_url, "allow_registration": registration},
                          indent=1).encode() + b"\n"
        return security_headers(self.config.api_base, ws_url), body, _etag(body)

    def _scheme_and_host(self, environ: dict[str, Any]) -> tuple[str, str]:
        """The scheme the browser used and the host name it asked for; ("", "") when the live feed's
        URL is a setting and neither matters."""
        if self.config.ws_url:
            return "", ""
        scheme = str(environ.get("wsgi.url_scheme") or "http")
        hops = self.config.trusted_proxies
        forwarded = [p.strip().lower() for p in environ.get("HTTP_X_FORWARDED_PROTO", "").split(",") if p.strip()]
        if hops and forwarded:
            # The entry the outermost trusted proxy wrote (as for X-Forwarded-For in gateway.app).
            scheme = forwarded[-hops] if len(forwarded) >= hops else forwarded[0]
        return ("https" if scheme == "https" else "http"), host_name(environ)

    def _locate(self, path: str) -> Path:
        if path == "/":
            path = "/index.html"
        missing = errors.NotFound(f"No file {path} in the web UI.")
        if not path.startswith("/"):
            raise missing
        try:
            decoded = unquote(path, errors="strict")
        except UnicodeDecodeError:
            raise missing from None
        segments = decoded[1:].split("/")
        if any(s in ("", ".", "..") or s.startswith(".") or _BAD_SEGMENT.search(s) for s in segments):
            raise missing
        try:
            target = self.root.joinpath(*segments).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise missing from None
        if not target.is_relative_to(self.root) or not target.is_file():
            raise missing
        return target

    def _read(self, target: Path) -> _File:
        """The file, from memory while its mtime and size are unchanged."""
        try:
            stat = target.stat()
            cached = self._files.get(target)
            if cached and (cached.mtime_ns, cached.size) == (stat.st_mtime_ns, stat.st_size):
                return cached
            body = target.read_bytes()
        except OSError:
            raise errors.NotFound("No such file in the web UI.") from None
        file = _File(stat.st_mtime_ns, stat.st_size, body, _etag(body), target.suffix.lower())
        if len(body) <= CACHE_LIMIT:
            with self._lock:
                self._files[target] = file
        return file


def host_name(environ: dict[str, Any]) -> str:
    """The host name (no port) the client asked for, from Host (else SERVER_NAME); a name that is not a
    DNS name or an address is refused: it goes into a header."""
    raw = str(environ.get("HTTP_HOST") or environ.get("SERVER_NAME") or "").strip()
    if raw.startswith("["):
        name = raw[: raw.find("]") + 1] if "]" in raw else raw
        ok = bool(_IPV6.match(name))
    else:
        name = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
        ok = bool(_HOST_NAME.match(name)) and ".." not in name
    if not ok:
        raise errors.BadRequest("The Host header is not a host name.")
    return name.lower()
