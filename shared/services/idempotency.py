"""Idempotency-Key on POST: the first response for (user, key, request) is replayed for 24 h.

The key is claimed inside the same transaction as the operation, so a concurrent retry waits for
the first attempt and then replays it; a failed attempt rolls its claim back and may be retried.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from shared import db, errors
from shared.types import Request

_CLAIM = """
INSERT INTO idempotency_keys (user_id, key, fingerprint) VALUES (:user_id, :key, :fp)
ON CONFLICT (user_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, response = NULL, created_at = now()
    WHERE idempotency_keys.created_at < now() - interval '24 hours'
RETURNING 1 AS claimed"""
_STORED = "SELECT fingerprint, response FROM idempotency_keys WHERE user_id = :user_id AND key = :key"
_SAVE = "UPDATE idempotency_keys SET response = :response WHERE user_id = :user_id AND key = :key"


def _reused(msg: str) -> errors.ValidationFailed:
    return errors.ValidationFailed([{"loc": ["header", "Idempotency-Key"], "msg": msg,
                                     "type": "idempotency_key"}], detail=msg)


def run(req: Request, name: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    key = req.header("idempotency-key") or ""
    if not key or len(key) > 255:
        raise _reused("The Idempotency-Key must have 1 to 255 characters.")
    # The query string counts when there is one (POST /items/import?dry_run=true is another request
    # than without it); without one the fingerprint is what it always was.
    target = req.path + (f"?{req.raw_query}" if req.raw_query else "")
    fingerprint = hashlib.sha256(b"\n".join([name.encode(), target.encode(), req.body])).hexdigest()
    ids = {"user_id": req.principal.id, "key": key}
    with db.transaction() as conn:
        if conn.one(_CLAIM, fp=fingerprint, **ids) is None:
            stored = conn.one(_STORED, **ids)
            if stored is None or stored["fingerprint"] != fingerprint or stored["response"] is None:
                raise _reused("This Idempotency-Key was already used for a different request.")
            replay: dict[str, Any] = json.loads(stored["response"])
            replay["headers"]["Idempotent-Replayed"] = "true"
            return replay
        result = call()
        if result["statusCode"] < 400:
            conn.execute(_SAVE, response=json.dumps(result), **ids)
    return result
