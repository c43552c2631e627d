"""Stage ``auth``: who is calling.

Without virtual keys every call belongs to the ``default`` tenant; the client's
``user`` field names the user. (Admin routes are guarded at the HTTP edge.)
"""

from __future__ import annotations

from steadyllm.call import Call, Principal, Response
from steadyllm.pipeline import Handler

__all__ = ["AuthStage"]


class AuthStage:
    name = "auth"

    async def __call__(self, call: Call, call_next: Handler) -> Response:
        user = call.body.get("user")
        if isinstance(user, str) and user:
            call.principal = Principal(tenant=call.principal.tenant, user=user)
        return await call_next(call)
