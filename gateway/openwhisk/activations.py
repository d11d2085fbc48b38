"""The platform's action-invocation API, played locally: how one function chains another.

`POST /api/v1/namespaces/<ns>/actions/<package>/<function>[?blocking=true[&result=true]]`, with the
API key as HTTP Basic credentials, as OpenWhisk's REST API takes it (`__OW_API_KEY` is "<uuid>:<key>").
Non-blocking, the answer is 202 `{"activationId": …}` at once and the function runs on a small pool
of worker threads; blocking, the answer carries the result, with 502 when the function reported an
error (`{"error": …}`) as OpenWhisk answers. The JSON body is the function's params. Refusals use
the platform's shape, `{"error": …, "code": …}`, not problem+json.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from gateway import manifest
from gateway.manifest import Function

log = logging.getLogger("ims.activations")

PREFIX = "/api/v1/namespaces/"
WORKERS = 4  # chained and scheduled functions run beside the requests, never more than this at once

Reply = tuple[int, list[tuple[str, str]], bytes]


def new_api_key() -> str:
    """A key shaped like the platform's: "<uuid>:<secret>"."""
    return f"{uuid.uuid4()}:{secrets.token_urlsafe(32)}"


def json_reply(status: int, body: dict[str, Any]) -> Reply:
    return status, [("Content-Type", "application/json")], json.dumps(body, default=str).encode()


def _refuse(status: int, message: str, activation: str) -> Reply:
    return json_reply(status, {"error": message, "code": activation})


class Activations:
    def __init__(self, functions: list[Function], namespace: str, api_key: str) -> None:
        self.by_name = {f.qualified: f for f in functions}
        self.namespace = namespace
        self.api_key = api_key
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="activation")

    def handle(self, method: str, path: str, query: str, authorization: str | None, body: bytes) -> Reply:
        activation = uuid.uuid4().hex
        if not self._authorized(authorization):
            return _refuse(401, "The supplied authentication is invalid.", activation)
        # <ns>/actions/<package>/<function>
        parts = path[len(PREFIX):].split("/")
        if len(parts) != 4 or parts[1] != "actions" or parts[0] not in ("_", self.namespace):
            return _refuse(404, "The requested resource does not exist.", activation)
        function = self.by_name.get(f"{parts[2]}/{parts[3]}")
        if function is None:
            return _refuse(404, "The requested resource does not exist.", activation)
        if method != "POST":
            return _refuse(405, "Invoke an action with POST.", activation)
        try:
            params = json.loads(body) if body.strip() else {}
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return _refuse(400, "The request content was malformed: send a JSON object.", activation)
        flags = {k: v[-1].lower() == "true" for k, v in parse_qs(query).items()}
        if not flags.get("blocking"):
            self.start(function, params, activation)
            return json_reply(202, {"activationId": activation})
        result = self.run(function, params, activation)
        success = isinstance(result, dict) and "error" not in result
        status = 200 if success else 502
        if flags.get("result"):
            return json_reply(status, result if isinstance(result, dict) else {"result": result})
        return json_reply(status, {"activationId": activation, "name": function.name, "namespace": self.namespace,
                            "response": {"result": result, "status": "success" if success else "application error",
                                         "success": success}})

    def _authorized(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            supplied = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(supplied, self.api_key.encode())

    def start(self, function: Function, params: dict[str, Any], activation: str | None = None) -> str:
        """Run `function` in the background; return its activation id."""
        activation = activation or uuid.uuid4().hex
        try:
            self._pool.submit(self.run, function, params, activation)
        except RuntimeError:  # shutting down: its next invocation or scheduled run does the work
            log.warning("gateway stopping: activation %s of %s not started", activation, function.qualified)
        return activation

    def run(self, function: Function, params: dict[str, Any], activation: str) -> Any:
        started = time.perf_counter()
        try:
            result = manifest.load_main(function)(params)
        except Exception:  # the platform records a crashed action; it never takes the gateway down
            log.exception("activation %s of %s raised", activation, function.qualified)
            result = {"error": "The action raised an exception."}
        log.info("activation %s %s %.0fms: %s", activation, function.qualified,
                 (time.perf_counter() - started) * 1000, json.dumps(result, default=str)[:300])
        return result

    def shutdown(self) -> None:
        """Let running activations finish; drop the ones not started (their scheduled run redoes them)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
