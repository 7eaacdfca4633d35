"""Each demo playground's Demo tab answers for one of its examples, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.apps.conftest import screenshot

pytestmark = [pytest.mark.hub, pytest.mark.browser]

ANSWERS = {
    "iris": r"setosa|versicolor|virginica",
    "reviews": r"positive|negative",
    "digits": r"^[0-9]$",
    "tones": r"hum|whistle",
    "motion": r"left|right",
}


@pytest.mark.parametrize("name", [*ANSWERS, "diabetes"])
def test_demo_answers_for_an_example(page: Page, hub, demos, name):
    page.goto(f"{hub.url}/p/{name}/")
    page.get_by_role("tab", name="Demo").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("runtime model, version 1")).to_be_visible()
    examples = panel.locator(".gallery-item, tr.tr-body, [data-testid='examples'] button, table tbody tr")
    # The example reaches the inputs by a server call: Predict sends what the inputs hold then.
    with page.expect_response(lambda r: "/gradio_api/run/" in r.url and r.request.method == "POST"):
        examples.first.click()
    panel.get_by_role("button", name="Predict").click()
    if name == "diabetes":
        output = panel.get_by_label("prediction")
        expect(output).not_to_have_value(re.compile(r"^0?$"), timeout=30_000)  # empty or 0 until answered
        assert 25 < float(output.input_value()) < 350  # disease progression scores of the diabetes data
    else:
        expect(panel.get_by_test_id("label-output-value").first).to_have_text(
            re.compile(ANSWERS[name]), timeout=30_000
        )
    screenshot(page, f"demo-{name}")
