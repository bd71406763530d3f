"""v1 accounts: registration, tokens, the current user, and blocking (moderators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from chatd.api import render
from chatd.api.auth import CallerDep, accounts_of
from chatd.api.bodies import json_body
from chatd.api.deps import store_of
from chatd.api.docs import error_responses
from chatd.api.idempotency import ReceiptDep
from chatd.api.ratelimit import client_address, limited, limits_of
from chatd.api.replies import replies
from chatd.api.schemas import NOT_BLANK, STORABLE, Id, openapi_body, patterns
from chatd.api.v1.schemas import AccountOut, Login, Registration, RulesOut, TokenOut, UserList
from chatd.config import Settings
from chatd.core import accounts as core_accounts
from chatd.core import users as core_users
from chatd.core.chats import CHAT_NAME_MAX
from chatd.core.errors import Unauthenticated
from chatd.core.models import Account
from chatd.core.presence import Seen, presence_for
from chatd.core.users import USERNAME_MAX, username_key

router = APIRouter(tags=["Accounts"])


@router.post(
    "/users",
    status_code=201,
    response_model=AccountOut,
    responses=error_responses(409, 429),
    openapi_extra=openapi_body(Registration, component=True),
    summary="Register",
)
@limited("registrations", by=client_address)
async def register(
    body: Annotated[Registration, json_body(Registration)], request: Request
) -> Response:
    account = await accounts_of(request).register(body.username, body.password, body.email)
    return render.json(render.account(account), 201)


@router.post(
    "/auth/tokens",
    status_code=201,
    response_model=TokenOut,
    responses=error_responses(401, 403, 429),
    openapi_extra=openapi_body(Login, component=True),
    summary="Log in: trade a username and password for a bearer token",
)
@limited("logins", by=client_address)
async def log_in(body: Annotated[Login, json_body(Login)], request: Request) -> Response:
    limits = limits_of(request)
    # Failures are counted per username too, so guessing one account's password is slow.
    name = username_key(body.username.strip())
    await limits.check("login_failures", name)
    try:
        session = await accounts_of(request).log_in(body.username, body.password)
    except Unauthenticated:
        await limits.count("login_failures", name)
        raise
    out = {
        "token": session.token,
        "expires_at": render.timestamp(session.expires_at),
        "user": render.account(session.account),
    }
    return render.json(out, 201)


@router.delete(
    "/auth/tokens/current",
    status_code=204,
    responses=error_responses(401),
    summary="Log out: revoke the token in use",
)
@replies(204)
async def log_out(caller: CallerDep, request: Request, receipt: ReceiptDep) -> None:
    await accounts_of(request).log_out(caller, receipt)


@router.get(
    "/rules",
    response_model=RulesOut,
    responses=error_responses(),
    summary="What the server accepts: lengths of texts, usernames, passwords and chat names",
)
async def rules(request: Request) -> Response:
    # Public: a registration form shows the rules before anyone has an account.
    settings: Settings = request.app.state.settings
    return render.json(
        {
            "text_max_length": settings.max_text_length,
            "username_max_length": USERNAME_MAX,
            "password_min_length": core_accounts.PASSWORD_MIN,
            "password_max_length": core_accounts.PASSWORD_MAX,
            "chat_name_max_length": CHAT_NAME_MAX,
        }
    )


@router.get(
    "/me", response_model=AccountOut, responses=error_responses(401), summary="The current user"
)
async def me(caller: CallerDep, request: Request) -> Response:
    return render.json(render.account(await core_accounts.me(store_of(request), caller)))


@router.put(
    "/users/{user_id}/block",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Block a user (moderators): their tokens stop working, they cannot log in or send",
)
@replies(204)
async def block(user_id: Id, caller: CallerDep, request: Request, receipt: ReceiptDep) -> None:
    await accounts_of(request).set_blocked(caller, user_id, True, receipt)


@router.delete(
    "/users/{user_id}/block",
    status_code=204,
    responses=error_responses(401, 403, 404),
    summary="Unblock a user (moderators)",
)
@replies(204)
async def unblock(user_id: Id, caller: CallerDep, request: Request, receipt: ReceiptDep) -> None:
    await accounts_of(request).set_blocked(caller, user_id, False, receipt)


@router.get(
    "/users",
    response_model=UserList,
    responses=error_responses(401),
    summary=(
        "Find users: by exact username (ignoring case), by the start of their username, or by id"
    ),
    description="Give exactly one of `username`, `prefix` and `id` (else 400 `invalid_query`).",
)
async def find_users(
    caller: CallerDep,  # logged-in users only: this is how they learn each other's ids
    request: Request,
    username: Annotated[
        str | None,
        Query(
            description="The exact username, ignoring case",
            examples=["Alice"],
            json_schema_extra=patterns(STORABLE, NOT_BLANK),
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        Query(
            description="The start of usernames, ignoring case; % and _ are literal",
            json_schema_extra=patterns(STORABLE, NOT_BLANK),
        ),
    ] = None,
    user_id: Annotated[
        list[Id] | None,
        Query(
            alias="id",
            description=f"Ids (repeat the parameter, up to {core_users.IDS_MAX}): their "
            "profiles, by id; ids of nobody are left out",
            # Keywords only: core.users.find_users answers a longer list (`invalid_query`).
            json_schema_extra={"maxItems": core_users.IDS_MAX},
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=core_users.LOOKUP_LIMIT_MAX, description="At most this many (prefix)"),
    ] = core_users.LOOKUP_LIMIT_DEFAULT,
) -> Response:
    found = await core_users.find_users(
        store_of(request), username=username, prefix=prefix, ids=user_id, limit=limit
    )
    seen = await presence_for(
        request.app.state.presence_store, caller, [account.id for account in found]
    )
    return render.json({"users": [_profile(account, seen.get(account.id)) for account in found]})


def _profile(account: Account, seen: Seen | None) -> dict[str, Any]:
    """What others see of an account: all but the email, which is for its owner (see README);
    online and last seen only for those who may see them (core/presence.py)."""
    shown = render.account(account)
    del shown["email"]
    shown["online"] = None if seen is None else seen.online
    last = None if seen is None else seen.last_seen_at
    shown["last_seen_at"] = None if last is None else render.timestamp(last)
    return shown
