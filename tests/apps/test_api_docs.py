"""The API docs (Swagger UI at /docs) work on a machine with no network."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.hub, pytest.mark.browser]


def test_api_docs_render_with_no_network(hub, browser):
    """Swagger UI loads every asset from the hub: requests elsewhere are refused."""
    context = browser.new_context()
    elsewhere: list[str] = []

    def only_the_hub(route):
        if route.request.url.startswith(hub.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/docs")
        page.locator(".swagger-ui .info .title").filter(has_text="aims_spaces hub").wait_for()
        page.get_by_text("/api/playgrounds/{name}/submissions").first.wait_for()
        page.get_by_text("Authenticate with").first.wait_for()
    finally:
        context.close()
    assert elsewhere == []
