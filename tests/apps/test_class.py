"""A whole class in Chromium against the real hub: a teacher creates a competition, writes its
rules and invites the class; three students sign up through the link, two form a team; they
submit from the browser and from Python; one team selects a final entry; the teacher closes the
competition and downloads the standings: one row per team, ranked on the private scores of the
final entries only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from aims_spaces import ModelPlayground
from aims_spaces.client.http import HubClient
from tests.apps.conftest import download, screenshot
from tests.apps.test_browser import login
from tests.conftest import wrong_on_some_private_row

pytestmark = [pytest.mark.hub, pytest.mark.browser]
NAME = "class-iris"


def _new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _sign_up(browser: Browser, link: str, username: str, password: str) -> Page:
    page = _new_page(browser)
    page.goto(link)
    expect(page.get_by_role("heading", name=f"Join {NAME}")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up and join").click()
    page.wait_for_url(re.compile(rf"/p/{NAME}/$"))
    expect(page.get_by_text("Logged in as")).to_contain_text(username)
    return page


def test_a_teacher_runs_a_class_competition_from_the_browser(browser: Browser, hub, users, iris, tmp_path):
    teacher = _new_page(browser)
    users("mrs-k")
    login(teacher, hub, "mrs-k", users.passwords["mrs-k"], "/")
    create_from_the_front_page(teacher, iris, tmp_path)
    teacher.goto(f"{hub.url}/p/{NAME}/")

    # The rules page, written in the browser. Each page's source comes from the hub when it is
    # picked: typing before it arrives would be overwritten by it.
    text = teacher.get_by_label("text (Markdown)")
    expect(text).to_have_value("Tell the iris species apart.")  # the overview's, on load
    teacher.get_by_label("page", exact=True).click()
    teacher.get_by_role("option", name="rules").click()
    expect(text).to_have_value("")  # the rules page's (none yet)
    text.fill("Work alone or in teams of two. **No hand labelling.**")
    teacher.get_by_role("button", name="Save the page").click()
    expect(teacher.get_by_text("The rules page is saved.")).to_be_visible()
    teacher.reload()
    expect(teacher.get_by_role("heading", name="Rules")).to_be_visible()
    expect(teacher.get_by_text("No hand labelling.").first).to_be_visible()

    # An invitation link for the class.
    teacher.get_by_role("button", name="Make an invitation link").click()
    shown = teacher.get_by_text(re.compile(r"/join/")).locator("visible=true").first
    expect(shown).to_be_visible()
    link = re.search(r"(http\S+/join/\S+)", shown.inner_text()).group(1)
    screenshot(teacher, "class-invite")

    # Three students sign up through it; Ana and Ben make a team in the browser.
    ana = _sign_up(browser, link, "ana", "ana-password")
    ben = _sign_up(browser, link, "ben", "ben-password")
    cal = _sign_up(browser, link, "cal", "cal-password")
    expect(ana.get_by_text("Rules")).to_be_visible()
    ana.get_by_role("tab", name="Competition").click()
    ana.get_by_label("new team's name").fill("anaben")
    ana.get_by_role("button", name="Make a team").click()
    made = ana.get_by_text("Teammates join with the code")
    expect(made).to_be_visible()
    code = re.search(r"code (\S+) \(shown once\)", made.inner_text()).group(1)
    ben.get_by_role("tab", name="Competition").click()
    ben.get_by_label("a team's join code").fill(code)
    ben.get_by_role("button", name="Join the team").click()
    expect(ben.get_by_text("Your team anaben: ana, ben")).to_be_visible()

    # Entries: Ana from the browser (a perfect CSV), Ben and Cal from Python.
    y = iris["y_test"].to_numpy()
    worse = wrong_on_some_private_row(y)
    csv = tmp_path / "ana.csv"
    csv.write_text("prediction\n" + "\n".join(y) + "\n")
    ana.get_by_role("tab", name="Submit").click()
    ana.get_by_role("tabpanel").locator("input[type=file]").nth(1).set_input_files(str(csv))
    ana.get_by_role("radio", name="competition").check()
    ana.get_by_role("button", name="Submit", exact=True).click()
    expect(ana.get_by_text(re.compile(r"Version \d+ scored"))).to_be_visible(timeout=60_000)
    as_ben = ModelPlayground(name=NAME, client=HubClient(hub.url, token=_token(hub, "ben", "ben-password")))
    as_cal = ModelPlayground(name=NAME, client=HubClient(hub.url, token=_token(hub, "cal", "cal-password")))
    ben_entry = as_ben.submit_model(prediction_submission=worse, submission_type="competition").wait()
    as_cal.submit_model(prediction_submission=worse, submission_type="competition").wait()
    entries = as_ben.list_entries()
    assert {e.username for e in entries} == {"ana", "ben"} and all(e.team == "anaben" for e in entries)

    # Ben selects the team's final entry: his own, the worse one.
    ben.reload()
    ben.get_by_role("tab", name="Competition").click()
    ben.locator("label", has_text=f"v{ben_entry.version} · ").locator("input").check()
    ben.get_by_role("button", name="Save my final entries").click()
    expect(ben.get_by_text(f"Final entries saved: v{ben_entry.version}")).to_be_visible()

    # The teacher closes the competition and downloads the standings.
    teacher.reload()
    teacher.get_by_role("tab", name="Competition").click()
    teacher.get_by_role("button", name="Close the competition now (owner)").click()
    expect(teacher.get_by_text("The competition is").locator("visible=true").first).to_contain_text("closed")
    teacher.reload()
    teacher.get_by_role("tab", name="Competition").click()
    table = teacher.get_by_role("grid").filter(has_text="anaben").locator("visible=true").first
    expect(table).to_contain_text("cal")
    screenshot(teacher, "class-standings")
    lines = download(teacher, "Download the standings (CSV)").splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [r["entrant"] for r in rows] in (["anaben", "cal"], ["cal", "anaben"])  # one row per team
    team = next(r for r in rows if r["entrant"] == "anaben")
    # Ana's perfect entry does not count: the team chose Ben's.
    assert (team["version"], team["entries"]) == (str(ben_entry.version), "2")
    assert float(team["private_accuracy"]) < 1.0
    for page in (ana, ben, cal, teacher):
        page.context.close()


def _token(hub, username: str, password: str) -> str:
    anonymous = HubClient(hub.url, token="")
    return anonymous.request("POST", "/api/login", json_body={"username": username, "password": password})[
        "token"
    ]


def create_from_the_front_page(page: Page, iris, tmp_path) -> None:
    """The teacher makes the competition from CSV files on the front page."""
    labels = tmp_path / "labels.csv"
    iris["y_test"].rename("species").to_frame().to_csv(labels, index=False)
    features = tmp_path / "features.csv"
    iris["X_test"].to_csv(features, index=False)
    page.get_by_text("Create a playground").click()
    page.get_by_label("name", exact=True).fill(NAME)
    page.get_by_label("description (Markdown)").fill("Tell the iris species apart.")
    page.get_by_label("final selections").fill("1")
    page.get_by_label("team size limit").fill("2")
    # A file input leaves the page once it holds a file: fill them from the last one.
    page.locator("input[type=file]").nth(1).set_input_files(str(features))
    page.locator("input[type=file]").nth(0).set_input_files(str(labels))
    page.get_by_role("button", name="Create playground").click()
    expect(page.get_by_role("link", name=f"/p/{NAME}/")).to_be_visible(timeout=60_000)
    screenshot(page, "class-create")
