"""The contract layer: schemathesis generates requests from the gateway's own /openapi.json and
checks every answer against it. Figures of the run are printed at the end of the session."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

FIGURES: dict[str, Any] = {"cases": Counter(), "operations": set(), "seconds": 0.0, "started": None}


def count(role: str, operation: str) -> None:
    FIGURES["cases"][role] += 1
    FIGURES["operations"].add(operation)
    if FIGURES["started"] is None:
        FIGURES["started"] = time.monotonic()
    FIGURES["seconds"] = time.monotonic() - FIGURES["started"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    cases: Counter[str] = FIGURES["cases"]
    if cases:
        per_role = ", ".join(f"{role} {n}" for role, n in sorted(cases.items()))
        terminalreporter.write_line(
            f"schemathesis: {len(FIGURES['operations'])} operations, {sum(cases.values())} generated requests "
            f"({per_role}) in {FIGURES['seconds']:.0f} s")
