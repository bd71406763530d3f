"""The whole API is documented in /openapi.json and browsable at /docs."""

from __future__ import annotations

import httpx

V1_OPERATIONS = {
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/auth/tokens"),
    ("delete", "/api/v1/auth/tokens/current"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/chats"),
    ("post", "/api/v1/chats"),
    ("get", "/api/v1/chats/{chat_id}"),
    ("patch", "/api/v1/chats/{chat_id}"),
    ("delete", "/api/v1/chats/{chat_id}"),
    ("post", "/api/v1/chats/{chat_id}/leave"),
    ("post", "/api/v1/chats/{chat_id}/read"),
    ("get", "/api/v1/chats/{chat_id}/messages"),
    ("post", "/api/v1/chats/{chat_id}/messages"),
    ("post", "/api/v1/direct/{user_id}/messages"),
    ("patch", "/api/v1/messages/{message_id}"),
    ("delete", "/api/v1/messages/{message_id}"),
    ("put", "/api/v1/users/{user_id}/block"),
    ("delete", "/api/v1/users/{user_id}/block"),
}
ERROR_REF = "#/components/schemas/ErrorOut"


async def test_every_v1_operation_is_documented_with_its_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if path.startswith("/api/v1/")
    }
    assert documented == V1_OPERATIONS
    for method, path in V1_OPERATIONS:
        responses = schema["paths"][path][method]["responses"]
        errors = {status: body for status, body in responses.items() if status >= "400"}
        assert "400" in errors
        for body in errors.values():
            assert body["content"]["application/json"]["schema"]["$ref"] == ERROR_REF
        if method in ("post", "patch") and not path.endswith(("/leave", "/current")):
            assert "requestBody" in schema["paths"][path][method], (method, path)


async def test_no_operation_documents_fastapi_validation_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(schema)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "swagger" in page.text.lower()


async def test_docs_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "cdn." not in page
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
