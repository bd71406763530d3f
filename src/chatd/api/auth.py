"""Who is asking: the bearer token, resolved once per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chatd.core.accounts import Accounts
from chatd.core.errors import Unauthenticated
from chatd.core.models import Caller

# Documents the scheme in OpenAPI; the 401 itself is ours (api/errors.py shapes it).
bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/tokens")


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


async def caller_of(request: Request) -> Caller:
    """The caller, cached on the request (the idempotency layer may have resolved it first)."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise Unauthenticated("send 'Authorization: Bearer <token>'", code="missing_token")
    caller = await accounts_of(request).authenticate(token)
    request.state.caller = caller
    return caller


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None. The one parser
    of bearer tokens (routes, the idempotency layer)."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def _current_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    return await caller_of(request)


CallerDep = Annotated[Caller, Depends(_current_caller)]
