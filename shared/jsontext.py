"""JSON as IMS writes it everywhere (responses, outbox payloads, audit details): compact, times in
UTC with a `Z`, money as a decimal string. Imports nothing from shared, so any layer may use it."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> str:
    # Non-ASCII as UTF-8, not \uXXXX escapes (6 to 12 bytes a character): a page of accented
    # or emoji text stays under the platform's 1 MB result limit. The launcher writes results the same way.
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)
