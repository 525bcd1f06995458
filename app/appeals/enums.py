"""Appeal states, defined once and imported by the ORM, the API schemas and the services."""

from __future__ import annotations

from enum import StrEnum


class AppealStatus(StrEnum):
    """An appeal is `open` until a supervisor upholds the finding or overturns it."""

    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class AppealDecision(StrEnum):
    """What a supervisor decides on an open appeal."""

    UPHOLD = "uphold"
    OVERTURN = "overturn"
