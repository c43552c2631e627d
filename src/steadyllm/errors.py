"""The gateway's errors, and how each one is shown to a client.

Every failure a client can see is a :class:`GatewayError`. Each subclass fixes the
HTTP status and the OpenAI error ``type``; the server renders it as
``{"error": {"message", "type", "code", "param"}}`` (or the Anthropic shape on
``/v1/messages``)::

    GatewayError
    ├── InvalidRequest          400  invalid_request_error
    ├── AuthenticationFailed    401  authentication_error
    ├── PermissionDenied        403  permission_error
    ├── NotFound                404  not_found_error   (unknown model, route)
    ├── RequestTimeout          408  invalid_request_error (body not sent in time)
    ├── Conflict                409  conflict_error
    ├── PayloadTooLarge         413  invalid_request_error
    ├── Unprocessable           422  invalid_request_error
    ├── RateLimited             429  rate_limit_error  (carries Retry-After)
    ├── ServiceUnavailable      503  service_unavailable (carries Retry-After)
    ├── InternalError           500  api_error
    └── UpstreamFailure         502/504, or the upstream's own 4xx
                                   one attempt against one deployment went wrong;
                                   ``kind`` and ``retryable`` drive retries,
                                   breakers and fallbacks.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "GatewayError",
    "InternalError",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RequestTimeout",
    "ServiceUnavailable",
    "Unprocessable",
    "UpstreamFailure",
    "UpstreamKind",
]


class GatewayError(Exception):
    """Base of every error the gateway shows a client."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def http_status(self) -> int:
        return self.status

    def to_openai(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "code": self.code,
                "param": self.param,
            }
        }

    def to_anthropic(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.anthropic_type, "message": self.message}}


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "invalid_request"


class AuthenticationFailed(GatewayError):
    status = 401
    error_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    error_type = "permission_error"
    anthropic_type = "permission_error"
    default_code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    error_type = "not_found_error"
    anthropic_type = "not_found_error"
    default_code = "not_found"


class RequestTimeout(GatewayError):
    status = 408
    error_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "request_timeout"


class Conflict(GatewayError):
    status = 409
    error_type = "conflict_error"
    anthropic_type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    error_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_code = "payload_too_large"


class Unprocessable(GatewayError):
    status = 422
    error_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"
    default_code = "unprocessable"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers.setdefault("retry-after", str(max(1, round(retry_after + 0.499))))


class ServiceUnavailable(GatewayError):
    status = 503
    error_type = "service_unavailable"
    anthropic_type = "overloaded_error"
    default_code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers.setdefault("retry-after", str(max(1, round(retry_after + 0.499))))


class InternalError(GatewayError):
    status = 500
    error_type = "api_error"
    anthropic_type = "api_error"
    default_code = "internal_error"


UpstreamKind = Literal[
    "connect",  # refused, DNS failure
    "timeout",  # connect/read/total timeout, or no first token in time
    "reset",  # connection reset / closed mid-response
    "status",  # the upstream answered with an HTTP error status
    "malformed",  # the upstream answered 2xx with a body we cannot read
    "stream_cut",  # a stream broke after its first content token
    "invalid",  # a well-formed answer that failed validation
]

_NETWORK_KINDS = frozenset({"connect", "timeout", "reset", "malformed", "stream_cut", "invalid"})


class UpstreamFailure(GatewayError):
    """One attempt against one deployment failed.

    ``retryable`` is true for network failures, malformed bodies, 429 and 5xx;
    never for the upstream's client errors (400, 401, 403, 404, 422, ...), which
    reach the client with the upstream's own status and message.
    """

    error_type = "upstream_error"
    anthropic_type = "api_error"
    default_code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        kind: UpstreamKind,
        deployment: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.kind: UpstreamKind = kind
        self.deployment = deployment
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        if self.kind in _NETWORK_KINDS:
            return True
        status = self.upstream_status or 0
        return status in (408, 429) or status >= 500

    @property
    def client_error(self) -> bool:
        """The upstream refused the request itself: the same request fails anywhere."""
        status = self.upstream_status or 0
        return self.kind == "status" and 400 <= status < 500 and status not in (408, 429)

    @property
    def http_status(self) -> int:
        if self.kind == "status" and self.upstream_status is not None:
            if self.upstream_status < 500:
                return self.upstream_status
            return 502
        if self.kind == "timeout":
            return 504
        return 502

    def to_openai(self) -> dict[str, Any]:
        body = super().to_openai()
        body["error"]["type"] = _OPENAI_TYPES.get(self.http_status, self.error_type)
        return body

    def to_anthropic(self) -> dict[str, Any]:
        body = super().to_anthropic()
        body["error"]["type"] = _ANTHROPIC_TYPES.get(self.http_status, self.anthropic_type)
        return body


# The error type a client expects for an upstream status passed through to it.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
