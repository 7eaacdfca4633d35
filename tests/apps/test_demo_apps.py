"""The demo playgrounds behave like apps people use: media in whatever form a browser or a
recorder gives it is converted, not refused; an empty form gets a message, not an answer; a
broken file is explained without the server's internals; a visitor opening a tab reads in place
what needs a login; what the owner changes (a deploy, a close) shows on the page at once."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
from playwright.sync_api import Browser, Page, expect

from aims_spaces import ModelPlayground
from tests.apps.conftest import ARGS, CHROMIUM, choose
from tests.apps.test_browser import login

pytestmark = [pytest.mark.hub, pytest.mark.browser]
TABS = ["Experiments", "Competition", "Data", "Submit", "Compare", "Model", "Demo", "API", "Overview"]
# Anything of the server's insides a message must not show.
INTERNALS = re.compile(r"/tmp/|gradio|Traceback|Error:|\.py\b|component", re.IGNORECASE)


def tone(hz: float, rate: int, seconds: float, channels: int = 1) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t)
    buf = io.BytesIO()
    soundfile.write(buf, np.stack([wave] * channels, axis=1), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def toasts(page: Page):
    return page.get_by_test_id("toast-body")


def open_demo(page: Page, hub, name: str):
    page.goto(f"{hub.url}/p/{name}/")
    page.get_by_role("tab", name="Demo").click()
    return page.get_by_role("tabpanel")


def predict_file(page: Page, hub, name: str, path: Path) -> None:
    panel = open_demo(page, hub, name)
    panel.locator("input[type=file]").first.set_input_files(str(path))
    panel.get_by_role("button", name="Predict").click()


def test_a_visitor_gets_answers_for_any_recording_and_plain_messages_otherwise(
    browser: Browser, page: Page, hub, demos, tmp_path
):
    # Opening every tab as a visitor: no error, and the tabs that need a login say so in place.
    page.goto(f"{hub.url}/p/iris/")
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        if tab == "Compare":
            expect(page.get_by_role("tabpanel").get_by_text("Log in to compare versions")).to_be_visible()
        elif tab == "Model":
            expect(page.get_by_role("tabpanel").get_by_text("Log in to see the versions")).to_be_visible()
    expect(toasts(page)).to_have_count(0)
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare", exact=True).click()  # a visitor's press explains in place
    expect(page.get_by_role("tabpanel").get_by_text("Log in to compare versions")).to_be_visible()
    expect(toasts(page)).to_have_count(0)

    # An empty form is not answered: every input is required.
    panel = open_demo(page, hub, "iris")
    expect(panel.get_by_label("sepal length (cm)")).to_have_value("")
    panel.get_by_role("button", name="Predict").click()
    expect(toasts(page).first).to_contain_text("Fill in 'sepal length (cm)', 'sepal width (cm)'")
    expect(panel.get_by_test_id("label-output-value")).to_have_count(0)
    panel.get_by_label("sepal length (cm)").fill("tall")
    panel.get_by_label("sepal width (cm)").fill("3.4")
    panel.get_by_label("petal length (cm)").fill("5.6")
    panel.get_by_label("petal width (cm)").fill("2.4")
    panel.get_by_role("button", name="Predict").click()
    expect(toasts(page).last).to_contain_text("'sepal length (cm)' must be a number, got 'tall'")
    panel.get_by_label("sepal length (cm)").fill("6.3")
    panel.get_by_role("button", name="Predict").click()
    expect(panel.get_by_test_id("label-output-value")).to_have_text(re.compile("virginica|versicolor"))

    # Sounds at other rates, in stereo, are resampled and mixed down for the 8 kHz tones models.
    hum, whistle = tmp_path / "hum-44k.wav", tmp_path / "whistle-48k-stereo.wav"
    hum.write_bytes(tone(220, 44_100, 0.6))
    whistle.write_bytes(tone(1_400, 48_000, 0.8, channels=2))
    for path, label in ((hum, "hum"), (whistle, "whistle")):
        predict_file(page, hub, "tones", path)
        expect(page.get_by_test_id("label-output-value")).to_have_text(label, timeout=30_000)

    # A file that is not an image: a message about this file, nothing of the server's insides.
    broken = tmp_path / "digit.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but not really a picture")
    predict_file(page, hub, "digits", broken)
    message = toasts(page).first
    expect(message).to_contain_text("This image file is not an image")
    assert not INTERNALS.search(message.inner_text().replace("Error\n", "", 1))

    # A regression answer shows four significant digits (the API's answer keeps them all).
    panel = open_demo(page, hub, "diabetes")
    with page.expect_response(lambda r: "/gradio_api/run/" in r.url and r.request.method == "POST"):
        panel.locator("table tbody tr").first.click()  # the example comes by a server call
    panel.get_by_role("button", name="Predict").click()
    shown = panel.get_by_label("prediction")
    expect(shown).not_to_have_value(re.compile(r"^0?$"), timeout=30_000)  # empty or 0 until answered
    assert re.fullmatch(r"\d+(\.\d+)?", shown.input_value())
    assert 25 < float(shown.input_value()) < 350
    assert len(shown.input_value().replace(".", "")) <= 4  # e.g. 152.3, not 152.29871654307346

    # The browser's own microphone (Chromium's fake device) records at its rate, not the model's.
    with_mic = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"],
    )
    try:
        mic = with_mic.new_context(permissions=["microphone"]).new_page()
        panel = open_demo(mic, hub, "tones")
        panel.get_by_role("button", name="Record audio").click()
        panel.get_by_role("button", name="Record", exact=True).click()
        expect(panel.get_by_role("button", name="Stop", exact=True)).to_be_visible()
        expect(panel.get_by_text("0:01")).to_be_visible()  # a second of sound recorded
        panel.get_by_role("button", name="Stop", exact=True).click()
        # The player (with its trim button) shows the recording once it is uploaded.
        expect(panel.get_by_role("button", name="Trim audio to selection")).to_be_visible()
        panel.get_by_role("button", name="Predict").click()
        expect(panel.get_by_test_id("label-output-value")).to_have_text(re.compile("^(hum|whistle)$"))
        expect(toasts(mic)).to_have_count(0)
    finally:
        with_mic.close()


def test_the_page_shows_what_the_owner_deploys_and_closes_without_a_reload(
    page: Page, hub, admin, demos, iris
):
    password = json.loads((hub.home / "admin_credentials.json").read_text())["password"]
    iris_pg = ModelPlayground(name="iris", client=admin)
    assert iris_pg.get_deployment().version == 1
    login(page, hub, "admin", password, "/p/iris/")
    try:
        for version in ("2", "1"):  # deploy the other version, then the original again
            page.get_by_role("tab", name="Model").click()
            choose(page.get_by_label("version", exact=True), version)
            page.get_by_role("button", name="Deploy this version (owner)").click()
            expect(page.get_by_text(f"Version {version} is now serving")).to_be_visible(timeout=60_000)
            page.get_by_role("tab", name="Demo").click()
            expect(page.get_by_text(f"runtime model, version {version}")).to_be_visible()
    finally:
        if iris_pg.get_deployment().version != 1:
            iris_pg.deploy_model(1)  # the other tests expect the demo as it was seeded

    closing = ModelPlayground(
        input_type="tabular", task_type="classification", name="demo-close", client=admin
    )
    closing.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    page.goto(f"{hub.url}/p/demo-close/")
    page.get_by_role("tab", name="Competition").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("Ranked on the public rows")).to_be_visible()
    panel.get_by_role("button", name="Close the competition now (owner)").click()
    expect(panel.get_by_text(re.compile(r"closed \d{4}-\d\d-\d\d \d\d:\d\d UTC"))).to_be_visible()
    expect(panel.get_by_text("ranked by the private rows")).to_be_visible()
    page.get_by_role("tab", name="Overview").click()
    expect(page.get_by_role("tabpanel").get_by_text(re.compile(r"closed \d{4}-\d\d-\d\d"))).to_be_visible()
