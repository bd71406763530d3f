"""/docs, as a user sees it in Chromium: Swagger UI renders chatd's OpenAPI 3.1 document from local
files (Swagger UI 3 and 4 showed "Unable to render this definition" instead).

One test on one page load: Swagger UI takes ~2 s to start in a fresh browser context."""

from __future__ import annotations

import pytest
from playwright.async_api import Locator, Page, expect

from tests.ui.conftest import BrowserErrors

pytestmark = pytest.mark.ui

UNRENDERABLE = "Unable to render this definition"
# Two request bodies: one inline schema, one behind a $ref (which Swagger UI must resolve).
REQUEST_BODIES = [
    ("POST", "/messages/add", "MessageAdd", ["chat", "author", "text"]),
    ("POST", "/api/v1/chats/{chat_id}/messages", "NewMessage", ["text"]),
]


async def test_docs_render_both_apis_with_their_request_bodies(
    page: Page, browser_errors: BrowserErrors
) -> None:
    await page.goto("/docs")
    # Whichever comes first: the operations, or Swagger UI's refusal of the document.
    await page.locator(".opblock-summary").or_(page.get_by_text(UNRENDERABLE)).first.wait_for()
    await expect(page.get_by_text(UNRENDERABLE)).to_have_count(0)
    # Unresolvable $refs and schema errors get a box of their own.
    await expect(page.locator(".errors-wrapper")).to_have_count(0)

    listed = await listed_operations(page)
    assert ("POST", "/messages/add") in listed
    assert ("GET", "/api/v1/chats/{chat_id}/messages") in listed
    document = await (await page.request.get("/openapi.json")).json()
    assert listed == {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }

    for method, path, schema, fields in REQUEST_BODIES:
        chosen = operation(page, method, path)
        await chosen.locator(".opblock-summary-control").click()
        body = chosen.locator(".opblock-section-request-body")
        await expect(body).to_contain_text("Request body")
        await body.get_by_role("tab", name="Schema").click()
        model = body.get_by_role("tabpanel")
        await expect(model).to_contain_text(schema)
        for field in fields:
            await expect(
                model.get_by_role("listitem").get_by_text(field, exact=True)
            ).to_be_visible()

    browser_errors.assert_none()


async def listed_operations(page: Page) -> set[tuple[str, str]]:
    """(method, path) of every operation on the page, as displayed."""
    pairs: list[list[str]] = await page.locator(".opblock-summary").evaluate_all(
        """summaries => summaries.map(summary => [
            summary.querySelector('.opblock-summary-method').innerText,
            summary.querySelector('.opblock-summary-path').innerText,
        ])"""
    )
    return {(method, path) for method, path in pairs}


def operation(page: Page, method: str, path: str) -> Locator:
    return (
        page.locator(".opblock")
        .filter(has=page.locator(".opblock-summary-method").get_by_text(method, exact=True))
        .filter(has=page.locator(".opblock-summary-path").get_by_text(path, exact=True))
    )
