"""Stage ``auth``: who is calling.

A key comes as ``Authorization: Bearer sk-steady-...`` (OpenAI SDKs) or
``x-api-key`` (Anthropic SDKs). With ``access.require_keys`` every call needs a
valid key; otherwise (the quick start) a call without one belongs to the
``default`` tenant and the client's ``user`` field names the user, and any other
token (an SDK's placeholder key) is ignored. A token shaped like a steadyllm key is
always checked: unknown, revoked or expired gets 401 before anything upstream is
touched, and a model outside the key's ``allowed_models`` gets 403. (Admin routes
are guarded at the HTTP edge.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from steadyllm.call import Call, Principal, Response
from steadyllm.errors import AuthenticationFailed, PermissionDenied, ServiceUnavailable
from steadyllm.keys.keyring import KeyRing
from steadyllm.keys.secrets import KEY_PREFIX
from steadyllm.pipeline import Handler

__all__ = ["API_KEY_NOTE", "AuthStage", "presented_key"]

log = logging.getLogger("steadyllm.auth")

API_KEY_NOTE = "api_key"  # call.notes[API_KEY_NOTE]: the ApiKey, for the limit stage


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The token a client sent, from ``Authorization: Bearer`` or ``x-api-key``."""
    header = headers.get("authorization")
    if header:
        scheme, _, bearer = header.partition(" ")
        if scheme.lower() == "bearer" and bearer.strip():
            return bearer.strip()
    token = headers.get("x-api-key")
    return token.strip() if token and token.strip() else None


class AuthStage:
    name = "auth"

    def __init__(
        self,
        keyring: KeyRing | None = None,
        *,
        require_keys: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._require = require_keys
        self._clock = clock

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        user = call.body.get("user")
        client_user = user if isinstance(user, str) and user else None
        token = presented_key(call.headers)
        ours = token is not None and token.startswith(KEY_PREFIX)
        if self._keyring is None or not (ours or self._require):
            if client_user is not None:
                call.principal = Principal(tenant=call.principal.tenant, user=client_user)
            return await call_next(call)
        if token is None:
            raise AuthenticationFailed(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
                "or 'x-api-key: <key>'.",
                code="missing_api_key",
            )
        try:
            key = await self._keyring.resolve(token)
        except Exception as exc:  # the key store is down: not the client's fault
            log.error("key lookup failed: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailable(
                "API keys cannot be checked right now.", retry_after=1.0, code="auth_unavailable"
            ) from None
        if key is None:
            raise AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")
        if key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if key.expires_at is not None and key.expires_at <= self._clock():
            raise AuthenticationFailed("This API key has expired.", code="expired_api_key")
        allowed = frozenset(key.allowed_models) if key.allowed_models is not None else None
        if allowed is not None and call.model not in allowed:
            raise PermissionDenied(
                f"This key may not use the model `{call.model}`.",
                code="model_not_allowed",
                param="model",
            )
        call.principal = Principal(
            tenant=key.tenant,
            user=key.user or client_user,
            key_id=key.id,
            tier=key.tier,
            allowed_models=allowed,
        )
        call.notes[API_KEY_NOTE] = key
        return await call_next(call)
