"""The web UI opened to strangers: files of the server never reach a caller, participant text
never runs as script, sessions end when people log out, other sites cannot act for a user, and
Gradio's routes answer 4xx for what does not exist. Real hub, real Gradio, real Chromium."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.apps.conftest import choose_many
from tests.apps.test_browser import login

pytestmark = [pytest.mark.hub]

FILE_COMPONENTS = {"file", "image", "audio", "video", "uploadbutton", "model3d", "gallery"}
XSS = '<img src=x onerror="window.__aims_xss=1">'


def _config(hub, name: str, token: str) -> dict:
    r = httpx.get(f"{hub.url}/p/{name}/config", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def _file_endpoints(config: dict) -> list[tuple[int, list[int], int]]:
    """(fn_index, positions of file inputs, number of inputs) of every event that takes a file."""
    kinds = {c["id"]: c.get("type") for c in config["components"]}
    out = []
    for index, dep in enumerate(config["dependencies"]):
        inputs = dep.get("inputs", [])
        files = [i for i, cid in enumerate(inputs) if kinds.get(cid) in FILE_COMPONENTS]
        if files:
            out.append((dep.get("id", index), files, len(inputs)))
    return out


def _file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x"}


def test_no_gradio_endpoint_takes_a_path_on_the_server(hub, demos, users, web_iris):
    """Every event of every demo app that takes a file is sent the admin's credentials file (and
    a device file that never ends): each is refused before Gradio reads or hashes anything."""
    wendy = users("wendy")
    secret = (hub.home / "admin_credentials.json").read_text()
    token_text = hub.admin_token
    cache = hub.home / "gradio"
    before = {p for p in cache.rglob("*") if p.is_file()}
    checked = 0
    for name in ("web-iris", "digits", "tones", "motion"):
        token = wendy.token if name == "web-iris" else hub.admin_token
        config = _config(hub, name, token)
        for fn_index, positions, n_inputs in _file_endpoints(config):
            targets = (str(hub.home / "admin_credentials.json"), "/dev/zero", "/etc/hostname")
            for target, meta in [(t, True) for t in targets] + [("/etc/hostname", False)]:
                data = [None] * n_inputs
                for i in positions:
                    # Gradio's media models take a path without "meta" too.
                    data[i] = _file_data(target) if meta else {"path": target}
                # A read of a device file would hang: the 10 s timeout fails the test then.
                r = httpx.post(
                    f"{hub.url}/p/{name}/gradio_api/queue/join",
                    json={"data": data, "fn_index": fn_index, "session_hash": "probe", "event_data": None},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                assert r.status_code == 400, (name, fn_index, r.status_code, r.text)
                assert "not uploaded to this page" in r.json()["error"]["message"]
                assert token_text not in r.text
                checked += 1
    assert checked >= 4 * 4  # iris's Submit, the image, audio and video demos
    # The hub still answers (a device file read on the event loop would have frozen it).
    assert httpx.get(f"{hub.url}/api/health", timeout=5).status_code == 200
    # Nothing of the server's files was copied into Gradio's cache.
    for path in {p for p in cache.rglob("*") if p.is_file()} - before:
        assert token_text not in path.read_text(errors="ignore")
    assert secret


def test_cached_files_are_served_only_by_their_own_app(hub, users, demos, web_iris):
    """Files the demo apps cached (their example media, answers) cannot be read through the front
    page or another playground's app, and no app serves arbitrary server files or URLs."""
    cache = hub.home / "gradio"
    media = [p for p in cache.rglob("*") if p.is_file() and p.suffix in (".png", ".wav", ".mp4")]
    assert media, "the media demos have cached files"
    outsider = users("otto")
    for path in media[:20]:
        for base in (hub.url, f"{hub.url}/p/web-iris"):  # the front page and a tabular app own none
            r = httpx.get(
                f"{base}/gradio_api/file={path}", headers={"Authorization": f"Bearer {outsider.token}"}
            )
            assert r.status_code == 404, (base, path, r.status_code)
    for probe in ("/etc/passwd", str(hub.home / "admin_credentials.json"), "https://example.org/"):
        for base in (hub.url, f"{hub.url}/p/web-iris"):
            assert httpx.get(f"{base}/gradio_api/file={probe}").status_code == 404
            assert httpx.get(f"{base}/gradio_api/file/{probe.lstrip('/')}").status_code == 404
    for route in ("/gradio_api/deep_link?session_hash=x", "/gradio_api/startup-events", "/monitoring"):
        assert httpx.get(f"{hub.url}/p/web-iris{route}").status_code == 404


def test_unknown_and_private_gradio_endpoints_are_404_and_a_bad_token_is_401(hub, web_iris):
    base = f"{hub.url}/p/web-iris/gradio_api"
    for path in ("/call/no_such_endpoint", "/call/v2/no_such_endpoint", "/run/no_such_endpoint", "/api/nope"):
        r = httpx.post(base + path, json={"data": []})
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = httpx.post(base + "/queue/join", json={"data": [], "fn_index": 9999, "session_hash": "x"})
    assert r.status_code == 404
    r = httpx.post(base + "/queue/join", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    # A mistyped token is refused, not silently taken for a visitor.
    r = httpx.get(f"{hub.url}/p/web-iris/config", headers={"Authorization": "Bearer aims_mistyped"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]


def test_other_sites_cannot_post_for_a_user_nor_read_with_credentials(hub, users, web_iris):
    evil = "http://evil.example"
    r = httpx.post(
        f"{hub.url}/login",
        data={"username": "wendy", "password": users.passwords["wendy"]},
        headers={"Origin": evil},
        follow_redirects=False,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "ForbiddenOrigin"
    r = httpx.post(
        f"{hub.url}/p/web-iris/gradio_api/call/leaderboard",
        json={"data": [False, False]},
        headers={"Origin": evil},
    )
    assert r.status_code == 403
    # Reached by a host name (not localhost), Gradio would answer any origin with credentials.
    for path in ("/p/web-iris/config", "/config", "/api/health"):
        r = httpx.options(
            f"{hub.url}{path}",
            headers={
                "Origin": evil,
                "Host": "hub.example.org",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert r.headers.get("access-control-allow-origin") not in (evil, "*"), path
        assert r.headers.get("access-control-allow-credentials") != "true", path
    # The hub's own pages still post (same origin).
    r = httpx.post(
        f"{hub.url}/login",
        data={"username": "wendy", "password": users.passwords["wendy"]},
        headers={"Origin": hub.url},
        follow_redirects=False,
    )
    assert r.status_code == 303


@pytest.mark.browser
def test_participant_html_does_not_run_in_the_owners_browser(page: Page, hub, users, iris):
    """A participant's description and custom metadata carry an HTML payload; the owner reads
    the board and compares the versions in Chromium: the text shows, the script never runs."""
    from sklearn.linear_model import LogisticRegression

    from aims_spaces import ModelPlayground

    owner, mallory = users("xena"), users("mallory-xss")
    pg = ModelPlayground(input_type="tabular", task_type="classification", name="xss-check", client=owner)
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    theirs = ModelPlayground(name="xss-check", client=mallory)
    for i in range(2):
        theirs.submit_model(
            model=LogisticRegression(max_iter=200 + i).fit(iris["X_train"], iris["y_train"]),
            custom_metadata={XSS: XSS, "note": f"<script>window.__aims_xss=2</script>{i}"},
            description=XSS,
        ).wait()

    login(page, hub, "xena", users.passwords["xena"], "/p/xss-check/")
    response = page.goto(f"{hub.url}/p/xss-check/")
    assert response is not None
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    page.get_by_role("tab", name="Experiments").click()
    expect(page.get_by_text(XSS).locator("visible=true").first).to_be_visible()
    page.get_by_role("tab", name="Compare").click()
    choose_many(page.get_by_label("versions"), ["1", "2"])
    page.get_by_role("button", name="Compare").click()
    table = page.locator(".aims-compare")
    expect(table).to_contain_text("onerror")  # shown as text
    page.wait_for_timeout(1000)
    assert page.evaluate("window.__aims_xss") is None
    assert table.locator("img").count() == 0 and table.locator("script").count() == 0


@pytest.mark.browser
def test_logging_out_ends_the_session_on_the_hub(page: Page, hub, users):
    users("lou")
    login(page, hub, "lou", users.passwords["lou"], "/")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "aims_session")
    cookie = next(c for c in page.context.cookies() if c["name"] == "aims_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    me = httpx.get(f"{hub.url}/api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == "lou"
    sessions = httpx.get(f"{hub.url}/api/tokens", headers={"Authorization": f"Bearer {token}"}).json()
    assert any(t["kind"] == "session" and t["current"] for t in sessions)
    page.goto(f"{hub.url}/logout?next=/")
    expect(page.get_by_text("Visitor")).to_be_visible()
    # The copied token is dead too, not only the cookie in this browser.
    r = httpx.get(f"{hub.url}/api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "not valid" in r.json()["error"]["message"]


def test_failed_logins_are_limited(hub, users):
    users("rita")
    for _ in range(10):
        r = httpx.post(f"{hub.url}/api/login", json={"username": "rita", "password": "guess"})
        assert r.status_code == 401
    r = httpx.post(f"{hub.url}/api/login", json={"username": "rita", "password": users.passwords["rita"]})
    assert r.status_code == 429 and re.search(r"try again in \d+ s", r.json()["error"]["message"])
    page = httpx.post(f"{hub.url}/login", data={"username": "rita", "password": "guess"})
    assert page.status_code == 429 and "too many failed logins" in page.text


def test_bodies_without_a_length_are_bounded_too(hub):
    """A chunked body (no Content-Length) to a web form is read at most to the limit."""

    def chunks():
        for _ in range(3):
            yield b"username=" + b"a" * 2**20  # 3 MiB in all, over AIMS_MAX_REQUEST_KB

    r = httpx.post(
        f"{hub.url}/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413 and "AIMS_MAX_REQUEST_KB" in r.json()["error"]["message"]
    r = httpx.post(f"{hub.url}/p/web-iris/gradio_api/component_server", json={"data": []})
    assert r.status_code == 404


def test_visitors_upload_only_where_a_demo_takes_files(hub, demos, web_iris):
    files = {"files": ("x.png", b"\x89PNG" + b"\x00" * 100)}
    r = httpx.post(f"{hub.url}/gradio_api/upload", files=files)  # the front page: signed-in users only
    assert r.status_code == 401 and "log in" in r.json()["error"]["message"]
    r = httpx.post(f"{hub.url}/p/web-iris/gradio_api/upload", files=files)  # a tabular app: Submit only
    assert r.status_code == 401 and "log in" in r.json()["error"]["message"]
    assert httpx.post(f"{hub.url}/p/digits/gradio_api/upload", files=files).status_code == 200


def test_a_link_on_another_site_does_not_log_anyone_out(hub, users):
    users("lena")
    token = httpx.post(
        f"{hub.url}/api/login", json={"username": "lena", "password": users.passwords["lena"]}
    ).json()["token"]
    r = httpx.get(
        f"{hub.url}/logout",
        cookies={"aims_session": token},
        headers={"sec-fetch-site": "cross-site"},
        follow_redirects=False,
    )
    assert r.status_code == 200 and "Log out of this hub?" in r.text
    assert httpx.get(f"{hub.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_visitor_upload_budget_per_address():
    from apps.guard import UploadBudget

    budget = UploadBudget(100)
    one, two = {"client": ("10.0.0.1", 1)}, {"client": ("10.0.0.2", 1)}
    assert budget.take(one, 60) and not budget.take(one, 60) and budget.take(two, 60)
    assert budget.take(one, 40)
