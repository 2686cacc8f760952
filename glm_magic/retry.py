"""How often and how long to wait before sending a refused request again.

Configuration (settings) and transport (client) both use it, so it lives
apart from either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import defaults

#: The longest wait a provider's Retry-After is allowed to impose.
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = defaults.MAX_RETRIES
    backoff: float = defaults.RETRY_BACKOFF
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        base = min(self.backoff * 2**attempt, self.max_backoff)
        return base * (0.75 + random.random() / 2)
