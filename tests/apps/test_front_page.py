"""The hub's front page: the listing and its search for everyone, and for a signed-in teacher a
form that creates a playground from CSV files, with no shell."""

from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import UTC, datetime

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from aims_spaces import ModelPlayground
from aims_spaces.domain import CompetitionInfo, Metric, PlaygroundInfo, Signature
from aims_spaces.errors import InvalidEvalData, PlaygroundNotFound
from aims_spaces.hub import Hub, Settings
from apps import tables
from apps.hub_app import FrontPage
from apps.session import Sessions
from tests.apps.conftest import choose
from tests.apps.test_browser import login

# Only the tests that drive Chromium against the session's hub are marked hub and browser; the
# fast tests of the listing's HTML need neither.


def _info(**changes: object) -> PlaygroundInfo:
    values: dict[str, object] = {
        "name": "escape-me",
        "owner": "fiona",
        "signature": Signature(input_type="tabular", task_type="classification"),
        "private": False,
        "description": "",
        "eval_metric": Metric.BALANCED_ACCURACY,
        "higher_is_better": True,
        "n_eval_rows": 3,
        "has_eval_features": True,
        "competition": CompetitionInfo(
            public_fraction=0.5, deadline=None, closed_at=None, is_closed=False, daily_submission_limit=5
        ),
        "members": ["maria"],
        "n_submissions": 7,
        "n_participants": 2,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(changes)
    return PlaygroundInfo.model_validate(values)


def test_the_listing_escapes_what_people_wrote_and_shows_one_line_of_it():
    info = _info(description="<script>alert('x')</script> & <img src=x onerror=alert(1)>\nsecond line")
    html = tables.playground_cards([(info, 0.93333, 2)])
    assert "<script>" not in html and "<img" not in html
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in html
    )
    assert "second line" not in html  # the first line only
    assert "Balanced accuracy: 0.9333" in html and "version 2" in html
    assert "<td>2</td><td>7</td>" in html  # participants, submissions

    long = _info(description="# " + "word " * 100)
    line = tables.first_line(long.description)
    assert len(line) == tables.DESCRIPTION_CHARS and line.startswith("word") and line.endswith("…")


def test_search_mine_and_competition_state_in_words():
    info = _info(description="Iris species from four measurements")
    assert tables.playground_matches(info, "IRIS") and tables.playground_matches(info, "fiOna")
    assert tables.playground_matches(info, "") and not tables.playground_matches(info, "digits")
    assert (
        tables.is_mine(info, "fiona") and tables.is_mine(info, "maria") and not tables.is_mine(info, "olga")
    )

    now = datetime(2026, 6, 1, tzinfo=UTC)
    competition = info.competition
    assert tables.competition_state(info, now) == "open"
    due = competition.model_copy(update={"deadline": datetime(2026, 12, 24, 18, tzinfo=UTC)})
    assert tables.competition_state(info.model_copy(update={"competition": due}), now) == "closes 2026-12-24"
    shut = competition.model_copy(update={"is_closed": True})
    assert tables.competition_state(info.model_copy(update={"competition": shut}), now) == "closed"
    later = competition.model_copy(update={"start": datetime(2026, 9, 1, tzinfo=UTC)})
    assert tables.competition_state(info.model_copy(update={"competition": later}), now) == "opens 2026-09-01"


def test_an_image_playground_is_made_from_a_zip_in_the_order_of_its_file_names(tmp_path):
    """The form's media path without a browser: a zip of PNGs (written out of order, with a folder
    and macOS leftovers) becomes the eval features, one image per label row, sorted by name."""
    hub = Hub.open(Settings(home=tmp_path / "home"))
    try:
        credentials = hub.accounts.ensure_admin("admin", tmp_path / "admin.json", "http://hub.invalid")
        assert credentials is not None
        admin = hub.accounts.authenticate(credentials.token)
        assert admin is not None
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("shapes/", b"")
            for i in (3, 1, 0, 5, 2, 4):
                png = io.BytesIO()
                Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(png, "PNG")
                z.writestr(f"shapes/{i:02d}.png", png.getvalue())
            z.writestr("__MACOSX/shapes/._00.png", b"resource fork")
        features = tmp_path / "shapes.zip"
        features.write_bytes(archive.getvalue())
        labels = tmp_path / "labels.csv"
        labels.write_text("shape\n" + "".join(f"{'dark' if i < 3 else 'light'}\n" for i in range(6)))

        page = FrontPage(hub, Sessions(hub))
        fields = {
            "name": "shapes",
            "description": "Dark or light squares",
            "input_type": "image",
            "task": "classification",
            "metric": "f1_macro",
            "shown": ["accuracy"],
            "public_fraction": 0.5,
            "private": True,
            "daily_limit": 5,
            "deadline": "",
            "final_selections": 2,
            "team_size_limit": 4,
            "labels_file": str(labels),
            "features_file": str(features),
            "example_file": None,
        }
        info = page.create_as(admin, **fields)
        assert (info.input_type.value, info.n_eval_rows, info.private) == ("image", 6, True)
        assert [m.value for m in info.shown_metrics] == ["f1_macro", "accuracy"]
        stored = hub.playgrounds.eval_features(admin, "shapes")
        reds = [Image.open(io.BytesIO(png)).getpixel((0, 0))[0] for png in stored.iloc[:, 0]]
        assert reds == [0, 40, 80, 120, 160, 200]  # 00.png ... 05.png

        with pytest.raises(InvalidEvalData, match=r"must be a \.zip of image files"):
            page.create_as(admin, **{**fields, "name": "shapes-csv", "features_file": str(labels)})
        assert [i.name for i in hub.playgrounds.list(admin)] == ["shapes"]
        assert "shapes" in page.listing(admin, "dark or LIGHT", mine=True)
        assert "shapes" not in page.listing(None, "", mine=False)  # private: visitors see nothing
    finally:
        hub.close()


def test_a_long_listing_shows_its_first_rows_and_says_how_to_find_the_rest(tmp_path, monkeypatch):
    """Each row's best score is a board build, so only the rows shown are built."""
    import apps.hub_app

    monkeypatch.setattr(apps.hub_app, "FRONT_PAGE_ROWS", 2)
    hub = Hub.open(Settings(home=tmp_path / "home"))
    try:
        credentials = hub.accounts.ensure_admin("admin", tmp_path / "admin.json", "http://hub.invalid")
        assert credentials is not None
        admin = hub.accounts.authenticate(credentials.token)
        labels = tmp_path / "labels.csv"
        labels.write_text("y\n" + "a\nb\n" * 3)
        page = FrontPage(hub, Sessions(hub))
        for name in ("first", "second", "third"):
            page.create_as(
                admin,
                name=name,
                description=f"the {name} one",
                input_type="tabular",
                task="classification",
                metric="accuracy",
                shown=[],
                public_fraction=0.5,
                private=False,
                daily_limit=5,
                deadline="",
                final_selections=2,
                team_size_limit=4,
                labels_file=str(labels),
                features_file=None,
                example_file=None,
            )
        built: list[str] = []
        best = page.best
        monkeypatch.setattr(page, "best", lambda caller, info: built.append(info.name) or best(caller, info))
        listing = page.listing(None, "", False)
        assert "/p/first/" in listing and "/p/second/" in listing and "/p/third/" not in listing
        assert "Showing 2 of 3 playgrounds: search by name" in listing
        assert built == ["first", "second"]
        assert "/p/third/" in page.listing(None, "third", False)
    finally:
        hub.close()


# --- in the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def listed(users, iris) -> list[str]:
    """Two public playgrounds of another user, one with markup in its description."""
    owner = users("fiona")
    names = []
    for name, description in (
        ("front-alpha", "Alpha particles <b>not bold</b>\nMore about it on its page."),
        ("front-beta", "Beta decay counts"),
    ):
        pg = ModelPlayground(
            input_type="tabular", task_type="classification", name=name, client=owner, description=description
        )
        pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
        names.append(name)
    return names


def _iris_csvs(tmp_path, iris) -> tuple[str, str]:
    labels = tmp_path / "labels.csv"
    iris["y_test"].rename("species").to_frame().to_csv(labels, index=False)
    features = tmp_path / "features.csv"
    iris["X_test"].to_csv(features, index=False)
    return str(labels), str(features)


def _open_form(page: Page) -> None:
    page.get_by_text("Create a playground").click()
    expect(page.get_by_role("button", name="Create playground")).to_be_visible()


@pytest.mark.hub
@pytest.mark.browser
def test_a_visitor_sees_the_listing_searches_it_and_has_no_create_form(page: Page, hub, listed):
    page.goto(hub.url + "/")
    expect(page.get_by_text("Visitor")).to_be_visible()
    alpha, beta = (page.get_by_role("link", name=n, exact=True) for n in listed)
    expect(alpha).to_be_visible()
    expect(beta).to_be_visible()
    row = page.locator(".aims-playgrounds tr").filter(has=alpha)
    expect(row).to_contain_text("Alpha particles <b>not bold</b>")  # shown as written, not as markup
    expect(row.locator("b", has_text="not bold")).to_have_count(0)
    expect(row).not_to_contain_text("More about it")
    expect(row).to_contain_text("fiona")
    expect(row).to_contain_text("tabular · classification")
    expect(row).to_contain_text("Accuracy")
    expect(row).to_contain_text("open")

    expect(page.get_by_text("Create a playground")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    expect(page.get_by_label("my playgrounds")).to_have_count(0)

    search = page.get_by_placeholder("name, description or owner")
    search.fill("ALPHA")
    expect(beta).to_have_count(0)
    expect(alpha).to_be_visible()
    search.fill("beta decay")
    expect(alpha).to_have_count(0)
    expect(beta).to_be_visible()
    search.fill("no such thing anywhere")
    expect(page.get_by_text("No playgrounds match.")).to_be_visible()
    search.fill("")
    expect(alpha).to_be_visible()
    expect(beta).to_be_visible()


@pytest.mark.hub
@pytest.mark.browser
def test_a_teacher_creates_a_competition_from_csv_files_and_finds_it_under_my_playgrounds(
    page: Page, hub, users, iris, listed, tmp_path
):
    teacher = users("tessa")
    labels, features = _iris_csvs(tmp_path, iris)
    login(page, hub, "tessa", users.passwords["tessa"], "/")
    expect(page.get_by_text("Logged in as")).to_contain_text("tessa")
    expect(page.get_by_role("link", name="Account")).to_be_visible()
    _open_form(page)

    page.get_by_label("name", exact=True).fill("front-iris-cup")
    page.get_by_label("description (Markdown)").fill("Iris species cup\n\nThree species, four measurements.")
    choose(page.get_by_label("ranking metric"), "Balanced accuracy")
    page.get_by_label("deadline").fill("2031-06-30 12:00")
    page.get_by_label("final selections").fill("1")
    page.get_by_label("team size limit").fill("3")
    # A file input leaves the page once it holds a file: fill them from the last one.
    page.locator("input[type=file]").nth(1).set_input_files(features)
    page.locator("input[type=file]").nth(0).set_input_files(labels)
    page.get_by_role("button", name="Create playground").click()

    link = page.get_by_role("link", name="/p/front-iris-cup/")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Created — open it at")).to_be_visible()
    assert link.get_attribute("href") == "/p/front-iris-cup/"

    info = ModelPlayground(name="front-iris-cup", client=teacher).get_info()
    assert info.owner == "tessa" and not info.private
    assert (info.input_type.value, info.task_type.value) == ("tabular", "classification")
    assert info.eval_metric is Metric.BALANCED_ACCURACY
    assert info.n_eval_rows == len(iris["y_test"]) and info.has_eval_features
    assert sorted(info.classes or []) == sorted(iris["y_test"].unique())
    assert [c.name for c in info.feature_schema] == list(iris["X_test"].columns)
    assert info.competition.deadline == datetime(2031, 6, 30, 12, 0, tzinfo=UTC)
    assert info.competition.final_selections == 1 and info.competition.team_size_limit == 3
    assert info.competition.public_fraction == 0.5 and info.competition.daily_submission_limit == 5
    assert info.description.startswith("Iris species cup")

    page.get_by_label("my playgrounds").check()
    mine = page.get_by_role("link", name="front-iris-cup", exact=True)
    expect(mine).to_be_visible()
    expect(page.get_by_role("link", name="front-alpha", exact=True)).to_have_count(0)
    row = page.locator(".aims-playgrounds tr").filter(has=mine)
    expect(row).to_contain_text("closes 2031-06-30")
    expect(row).to_contain_text("Balanced accuracy")
    expect(row).to_contain_text("Iris species cup")
    expect(row).not_to_contain_text("Three species")
    page.get_by_label("my playgrounds").uncheck()
    expect(page.get_by_role("link", name="front-alpha", exact=True)).to_be_visible()

    # The creation scheduled the new page's build from inside the form's Gradio event; the build
    # must not inherit that event's context (Gradio then skips initialising every component) and
    # is done before anyone visits.
    deadline = time.monotonic() + 60
    while "built the page of front-iris-cup" not in (log := hub.log_path.read_text(errors="replace")):
        assert "could not build the app of front-iris-cup" not in log
        assert time.monotonic() < deadline, "the new page was not built in the background"
        time.sleep(0.2)
    page.goto(f"{hub.url}/p/front-iris-cup/")
    expect(page.get_by_role("tab", name="Data")).to_be_visible()


@pytest.mark.hub
@pytest.mark.browser
def test_a_labels_file_with_two_columns_is_explained_and_creates_nothing(
    page: Page, hub, users, iris, tmp_path
):
    teacher = users("tessa")
    _, features = _iris_csvs(tmp_path, iris)
    two = tmp_path / "two-columns.csv"
    frame = iris["y_test"].rename("species").to_frame()
    frame["also"] = 1
    frame.to_csv(two, index=False)
    login(page, hub, "tessa", users.passwords["tessa"], "/")
    _open_form(page)
    page.get_by_label("name", exact=True).fill("front-broken")
    page.locator("input[type=file]").nth(1).set_input_files(features)
    page.locator("input[type=file]").nth(0).set_input_files(str(two))
    page.get_by_role("button", name="Create playground").click()
    expect(
        page.get_by_text(re.compile(r"the eval labels file has 2 columns; give exactly one"))
    ).to_be_visible()
    expect(page.get_by_text("Created — open it at")).to_have_count(0)
    with pytest.raises(PlaygroundNotFound):
        ModelPlayground(name="front-broken", client=teacher).get_info()
