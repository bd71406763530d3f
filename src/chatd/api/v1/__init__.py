"""The authenticated REST API v1: accounts, chats, messages, reactions, private
chats, moderation, search."""

from fastapi import APIRouter

from chatd.api.v1 import accounts, chats, messages, reactions, search

router = APIRouter(prefix="/api/v1")
router.include_router(accounts.router)
router.include_router(chats.router)
router.include_router(messages.router)
router.include_router(reactions.router)
router.include_router(search.router)
# The WebSocket stream (GET /api/v1/ws) is served ahead of FastAPI: api/v1/stream.py.
