"""The errors resilience adds; all are ``GatewayError``s the edge renders as usual.

::

    ServiceUnavailable (503, Retry-After)
    ├── CircuitOpen            a breaker is open: nothing was sent
    └── RetryBudgetExceeded    a retry was refused to protect the upstream
    DeadlineExceeded (504)     the request's deadline passed across all its attempts
"""

from __future__ import annotations

from typing import ClassVar

from steadyllm.errors import GatewayError, ServiceUnavailable

__all__ = ["CircuitOpen", "DeadlineExceeded", "RetryBudgetExceeded"]


class CircuitOpen(ServiceUnavailable):
    """The breaker is open (or its probe slots are taken): nothing was sent."""

    default_code = "circuit_open"

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(
            f"The service is temporarily unavailable: the circuit breaker for {name} is open.",
            retry_after=retry_after,
        )
        self.name = name


class RetryBudgetExceeded(ServiceUnavailable):
    default_code = "retry_budget_exceeded"

    def __init__(self, deployment: str, guard: str, *, retry_after: float) -> None:
        what = "retries per window" if guard == "count" else "retries per first attempt"
        super().__init__(
            f"Retry budget exceeded for {deployment} ({what}); "
            "the service is temporarily unavailable.",
            retry_after=retry_after,
        )
        self.deployment = deployment
        self.guard = guard


class DeadlineExceeded(GatewayError):
    status: ClassVar[int] = 504
    error_type: ClassVar[str] = "timeout_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = "deadline_exceeded"
