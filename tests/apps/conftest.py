"""Browser fixtures: Playwright driving Debian's Chromium (make test installs it), and a public
and a private playground with scored submissions and a deployed model to look at."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from aims_spaces import ModelPlayground
from aims_spaces.hub.testing import copy_scored_submission

CHROMIUM = "/usr/bin/chromium"
# The README's screenshots are refreshed only on request (AIMS_UPDATE_SCREENSHOTS=1 make test),
# so a test run leaves the tree as it found it; otherwise they go to a temp folder.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("AIMS_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "aims-screenshots"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


# A page's round trip (a Gradio event, a re-rendered table) takes well under a second on an idle
# machine, and seconds on a loaded 2-core CI runner: assertions wait up to 20 s, not 5.
expect.set_options(timeout=20_000)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def download(page: Page, button: str) -> str:
    """Click a Gradio DownloadButton and return the downloaded file's text. The button holds its
    file only once the event that fills it has finished: click again until it downloads."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(20):
        try:
            with page.expect_download(timeout=3_000) as got:
                page.get_by_role("button", name=button).click()
        except PlaywrightTimeout:
            continue
        return Path(got.value.path()).read_text()
    raise AssertionError(f"the {button!r} button never downloaded a file")


def choose(dropdown: Locator, option: str) -> None:
    """Pick ``option`` in a single-choice Gradio dropdown: by clicking it in the list (Enter on
    a busy page may come before the list is filtered and pick nothing), then wait until the
    dropdown shows it."""
    dropdown.click()
    dropdown.fill(option)
    dropdown.page.get_by_role("option", name=option, exact=True).click()
    expect(dropdown).to_have_value(option)


def choose_many(dropdown: Locator, options: list[str]) -> None:
    """Pick ``options`` in a multi-choice Gradio dropdown, each by clicking it in the list (the
    choices may still be on their way from the server: Enter would then pick nothing), then close
    the list, which covers what is below it."""
    for option in options:
        dropdown.click()
        dropdown.fill(option)
        dropdown.page.get_by_role("option", name=option, exact=True).click()
    dropdown.press("Escape")


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


@pytest.fixture(scope="session")
def web_iris(users, iris) -> ModelPlayground:
    owner = users("wendy")
    pg = ModelPlayground(
        input_type="tabular",
        task_type="classification",
        name="web-iris",
        client=owner,
        description="Iris species from four measurements, for the browser tests.",
    )
    pg.create(
        eval_data=iris["y_test"],
        eval_features=iris["X_test"],
        example_data=iris["X_test"].head(5),
        y_train=iris["y_train"],
    )
    lr = LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])
    rf = RandomForestClassifier(n_estimators=30, random_state=0).fit(iris["X_train"], iris["y_train"])
    pg.submit_model(
        model=lr, submission_type="all", custom_metadata={"team": "blue"}, description="logistic regression"
    ).wait()
    pg.submit_model(
        model=rf, submission_type="all", custom_metadata={"team": "red"}, description="random forest"
    ).wait()
    pg.deploy_model(1)
    return pg


@pytest.fixture(scope="session")
def web_secret(users, iris) -> ModelPlayground:
    owner = users("wendy")
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="web-secret", private=True, client=owner
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"], example_data=iris["X_test"].head(3))
    pg.submit_model(model=LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"])).wait()
    pg.deploy_model(1)
    return pg


@pytest.fixture(scope="session")
def big_board(hub, users, iris) -> str:
    """A playground with 5,000 scored submissions: one scored by the hub, 4,999 copies of it with
    other scores written straight into the registry (the leaderboard only reads them)."""
    owner = users("wendy")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="web-big", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    pg.submit_model(
        model=LogisticRegression(max_iter=1000).fit(iris["X_train"], iris["y_train"]), description="v-bulk 1"
    ).wait()
    copy_scored_submission(hub.home, pg.name, "v-bulk 1", 5000)
    return pg.name
