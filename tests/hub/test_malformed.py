"""Malformed requests of the kinds a prober sends, over REST against the real hub: every one gets
a 4xx naming the problem (never a 500), nothing is stored, and no upload is read before the
caller is known."""

from __future__ import annotations

import json
import re
import socket
import time

import httpx
import pytest

from aims_spaces import ModelPlayground
from tests.conftest import artifact_files, evaldata_dirs

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def owner(users):
    return users("mona")


@pytest.fixture(scope="module")
def target(owner, iris):
    pg = ModelPlayground(
        input_type="tabular", task_type="classification", name="iris-malformed", client=owner
    )
    pg.create(eval_data=iris["y_test"], eval_features=iris["X_test"])
    pg.submit_model(prediction_submission=iris["y_test"].to_numpy()).wait()
    return pg


@pytest.fixture
def nothing_stored(hub, admin):
    def snapshot():
        subs = {p["name"]: p["n_submissions"] for p in admin.request("GET", "/api/playgrounds")}
        return artifact_files(hub.home), evaldata_dirs(hub.home), subs

    before = snapshot()
    yield
    assert snapshot() == before


def _raw(hub, method: str, path: str, token: str | None, body: bytes | None = None, **kw) -> httpx.Response:
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{hub.url}{path}", content=body, headers=headers, timeout=30, **kw)


def _assert_4xx(r: httpx.Response, words: str) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    body = r.json()
    assert words in body["error"]["message"], body


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/api/playgrounds/iris-malformed/submissions/99999999999999999999999", "between 1 and 2147483647"),
        ("/api/playgrounds/iris-malformed/submissions/-1", "between 1 and 2147483647"),
        ("/api/playgrounds/iris-malformed/submissions/2147483648/model", "between 1 and 2147483647"),
        ("/api/playgrounds/iris%0A/leaderboard", "does not exist"),
        ("/api/playgrounds/%ED%A0%80/leaderboard", "does not exist"),
        ("/api/tokens/99999999999999999999999", "less than or equal to"),
    ],
)
def test_paths_out_of_range_or_of_bad_text(hub, owner, target, path, words):
    method = "DELETE" if path.startswith("/api/tokens") else "GET"
    _assert_4xx(_raw(hub, method, path, owner.token), words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"daily_submission_limit": 99999999999999999999999}', "less than or equal to 10000"),
        (b'{"daily_submission_limit": 0}', "greater than or equal to 1"),
        (b'{"deadline": "not a date"}', "deadline"),
    ],
)
def test_competition_settings_out_of_range(hub, owner, target, nothing_stored, body, words):
    _assert_4xx(_raw(hub, "PATCH", "/api/playgrounds/iris-malformed/competition", owner.token, body), words)


def _create(hub, token, spec: dict) -> httpx.Response:
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"label": ["a", "b", "a", "b"]}).to_parquet(buf)
    return httpx.post(
        f"{hub.url}/api/playgrounds",
        headers={"Authorization": f"Bearer {token}"},
        data={"spec": json.dumps(spec, ensure_ascii=True)},
        files={"eval_labels": ("l.parquet", buf.getvalue())},
        timeout=30,
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"name": "trailing\n", "task_type": "classification"}, "invalid playground name"),
        ({"name": "sur\ud800rogate", "task_type": "classification"}, "hex escape"),  # not even JSON text
        ({"name": "limit0", "task_type": "classification", "daily_submission_limit": 0}, "between 1 and"),
        (
            {"name": "limit-huge", "task_type": "classification", "daily_submission_limit": 2**70},
            "between 1 and",
        ),
        ({"name": "desc", "task_type": "classification", "description": "a\ud800"}, "hex escape"),
        ({"name": "desc2", "task_type": "classification", "description": "\x1b[2J"}, "control characters"),
    ],
)
def test_playground_specs_with_bad_text_or_numbers(hub, owner, nothing_stored, spec, words):
    _assert_4xx(_create(hub, owner.token, spec), words)


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ('{"custom_metadata": {"x": NaN}}', "finite"),
        ('{"custom_metadata": {"x": 1e999}}', "finite"),
        ('{"custom_metadata": {"x": -Infinity}}', "finite"),
        ('{"custom_metadata": {"x": 123456789012345678901234567890}}', "out of range"),
        ('{"description": "\\ud800"}', "hex escape"),
        ('{"model_type": "a\\nb"}', "control characters"),
    ],
)
def test_submission_metadata_that_is_not_json_or_not_text(
    hub, owner, target, iris, nothing_stored, meta, words
):
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"prediction": iris["y_test"].to_numpy()}).to_parquet(buf)
    r = httpx.post(
        f"{hub.url}/api/playgrounds/iris-malformed/submissions",
        headers={"Authorization": f"Bearer {owner.token}"},
        data={"meta": meta},
        files={"predictions": ("p.parquet", buf.getvalue())},
        timeout=30,
    )
    _assert_4xx(r, words)


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "mona\\ud800", "password": "x"}',
        b'{"username": "mona", "password": "\\udfff\\ud800"}',
        b'{"username": "mona", "password": "x", "token_name": "\\ud800"}',
        b'{"username": 12, "password": ["x"]}',
    ],
)
def test_logins_with_surrogates_or_wrong_types(hub, owner, body):
    r = _raw(hub, "POST", "/api/login", None, body)
    assert r.status_code in (401, 422), r.text
    assert r.json()["error"]["code"] in ("AuthenticationRequired", "InvalidInput", "InvalidSpec")


def _first_answer(hub, head: bytes) -> tuple[str, float]:
    """Send a request head announcing a 300 MiB body, send none of it, read the answer."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(head)
        answer = b""
        # The head and the body of the answer may arrive in separate segments: read until the
        # announced body is complete (or the server closes).
        while True:
            chunk = s.recv(4096)
            answer += chunk
            top, sep, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", top)
            if not chunk or (sep and length and len(body) >= int(length.group(1))):
                break
        return answer.decode(errors="replace"), time.monotonic() - start


def test_an_upload_from_a_stranger_is_refused_unread(hub, target, owner):
    """A 300 MiB upload without a token is answered 401 at once: the hub does not wait for (or
    read, or spool to disk) a body whose sender it does not know; with a token, a body over the
    limit is refused from its Content-Length."""
    head = (
        b"POST /api/playgrounds/iris-malformed/submissions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 314572800\r\n"
    )
    answer, seconds = _first_answer(hub, head + b"\r\n")
    assert answer.startswith("HTTP/1.1 401") and seconds < 5, answer[:300]
    answer, seconds = _first_answer(hub, head + f"Authorization: Bearer {owner.token}\r\n\r\n".encode())
    assert answer.startswith("HTTP/1.1 413") and "AIMS_MAX_UPLOAD_MB" in answer and seconds < 5, answer[:300]


def test_json_endpoints_take_small_bodies(hub, owner):
    r = _raw(hub, "POST", "/api/login", None, b'{"username": "' + b"a" * (2 * 2**20) + b'", "password": "x"}')
    _assert_4xx(r, "AIMS_MAX_REQUEST_KB")
