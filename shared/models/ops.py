"""Operations: health (see shared.models)."""

from typing import Literal

from shared.models.base import Out


class Health(Out):
    status: Literal["ok", "degraded"]
    checks: dict[str, str]
