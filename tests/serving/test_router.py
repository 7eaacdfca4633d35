"""The router's checks and formats, without Ray: bad bodies are named precisely."""

import numpy as np
import orjson
import pytest

from aims_spaces.core.onnx_model import ModelOutput
from aims_spaces.domain import Column, ColumnType, InputType, Route, Signature, TaskType
from aims_spaces.errors import AuthenticationRequired, HubUnavailable, NotFound
from aims_spaces.hub.access import Caller
from serving.router import STALE_AFTER_S, InvalidRows, Router, TokenCache

SCHEMA = [
    Column(name="x", dtype=ColumnType.FLOAT),
    Column(name="n", dtype=ColumnType.INT),
    Column(name="colour", dtype=ColumnType.STRING, categories=["blue", "red"]),
]


def route(private=False, allowed=(1,)):
    return Route(
        playground="p",
        version=3,
        model_sha256="a" * 64,
        signature=Signature(
            input_type=InputType.TABULAR,
            task_type=TaskType.CLASSIFICATION,
            feature_schema=SCHEMA,
            classes=["no", "yes"],
        ),
        private=private,
        allowed_user_ids=list(allowed),
    )


def body(rows) -> bytes:
    return orjson.dumps({"rows": rows})


GOOD = {"x": 1.5, "n": 2, "colour": "red"}


def test_rows_become_columns():
    columns, n = Router(lambda t: None).parse(route(), body([GOOD, {"x": 0, "n": 1, "colour": "blue"}]))
    assert n == 2
    np.testing.assert_array_equal(columns["x"], [1.5, 0.0])
    assert list(columns["colour"]) == ["red", "blue"]
    columns, n = Router(lambda t: None).parse(route(), body([[1.0, 2, "blue"]]))  # positional rows too
    assert n == 1 and list(columns["colour"]) == ["blue"]


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"{not json", "the body is not valid JSON (line 1, column 2)"),
        (b"", "the body is not valid JSON (it is empty)"),
        (orjson.dumps({"data": []}), '{"rows"'),
        (body([]), "non-empty list"),
        (body([{"x": 1.0, "n": 2}]), "row 0: missing column(s) ['colour']"),
        (body([GOOD, {**GOOD, "extra": 1}]), "row 1: unknown column(s) ['extra']"),
        (body([GOOD, GOOD, {**GOOD, "x": "tall"}]), "row 2, column 'x': expected a number, got str 'tall'"),
        (body([{**GOOD, "x": None}]), "row 0, column 'x': expected a number, got null (missing value)"),
        (body([{**GOOD, "n": 2.5}]), "row 0, column 'n': expected an integer"),
        (body([{**GOOD, "colour": 3}]), "row 0, column 'colour': expected a string"),
        (body([{**GOOD, "colour": "green"}]), "unknown category 'green'"),
        (body([[1.0, 2]]), "row 0 has 2 values; expected 3"),
        (body(["x"]), "row 0 must be an object"),
    ],
)
def test_bad_bodies_name_the_column_and_row(payload, words):
    with pytest.raises(InvalidRows) as err:
        Router(lambda t: None).parse(route(), payload)
    assert words in err.value.message
    assert err.value.status_code == 422


def test_private_routes_need_a_member_and_look_absent_otherwise():
    callers = {"member": Caller(1, "m"), "other": Caller(2, "o"), "admin": Caller(9, "a", is_admin=True)}

    def authenticate(token):
        if token not in callers:
            raise AuthenticationRequired("the API token is not valid")
        return callers[token]

    router = Router(authenticate)
    router.update([route(private=True)])
    assert router.resolve("p", "Bearer member").version == 3
    assert router.resolve("p", "Bearer admin").version == 3
    with pytest.raises(NotFound) as missing:
        router.resolve("nothing-here", None)
    # No token, someone else's, another scheme, a forged, expired or revoked one: all look
    # exactly like a playground that does not exist (a 401 would tell a prober it does).
    for header in (None, "Bearer other", "Basic member", "Bearer forged", "Bearer "):
        with pytest.raises(NotFound) as err:
            router.resolve("p", header)
        assert err.value.status_code == 404
        assert err.value.message == missing.value.message.replace("nothing-here", "p")
    router.update([route(private=False)])
    assert router.resolve("p", None).version == 3


def test_stale_access_lists_fail_closed():
    """A replica that has not heard from the serving state for a while stops trusting its
    access lists: private (and unknown) playgrounds answer 503, public ones keep serving."""
    router = Router(lambda token: Caller(1, "m"))
    with pytest.raises(HubUnavailable):  # never synced
        router.resolve("p", "Bearer t")
    public = route(private=False).model_copy(update={"playground": "open"})
    router.update([route(private=True), public])
    assert router.resolve("p", "Bearer t").version == 3
    router.synced_at -= STALE_AFTER_S + 1  # as if the last sync were that long ago
    for name in ("p", "nothing-here"):
        with pytest.raises(HubUnavailable, match="access information is stale; retry shortly") as err:
            router.resolve(name, "Bearer t")
        assert err.value.status_code == 503
    assert router.resolve("open", None).version == 3
    router.update([route(private=True), public])  # the next sync restores it
    assert router.resolve("p", "Bearer t").version == 3


def test_outputs_become_labels_and_named_probabilities():
    out = ModelOutput(indices=np.array([1, 0]), probabilities=np.array([[0.2, 0.8], [0.9, 0.1]]))
    assert Router.format(route(), out) == {
        "predictions": ["yes", "no"],
        "probabilities": [{"no": 0.2, "yes": 0.8}, {"no": 0.9, "yes": 0.1}],
        "model_version": 3,
    }


def test_token_cache_remembers_and_forgets():
    calls = []

    def lookup(token):
        calls.append(token)
        if token == "bad":
            raise AuthenticationRequired("nope")
        return Caller(1, "u")

    cache = TokenCache(lookup, ttl_s=60, negative_ttl_s=60)
    assert cache("good").username == "u" and cache("good").username == "u"
    for _ in range(2):
        with pytest.raises(AuthenticationRequired):
            cache("bad")
    assert calls == ["good", "bad"]
    assert TokenCache(lookup).ttl_s <= 5  # a revoked token stops working within seconds


def test_csv_upload_becomes_rows():
    csv = b"x,n,colour\n1.5,2,red\n0,1,blue\n"
    columns, n = Router(lambda t: None).files(route(), [csv])
    assert n == 2
    np.testing.assert_array_equal(columns["x"], [1.5, 0.0])
    assert list(columns["colour"]) == ["red", "blue"]


@pytest.mark.parametrize(
    "files, words",
    [
        ([], "the form holds no files"),
        ([b"x,n,colour\n1,2,red\n"] * 2, "send the rows as one CSV file, got 2 files"),
        ([b""], "the CSV file does not parse"),
        ([b"x,n,colour\n"], "the CSV file holds no rows"),
        ([b"x,n\n1,2\n"], "row 0: missing column(s) ['colour']"),
        ([b"x,n,colour\n1,2,red\ntall,2,red\n"], "row 1, column 'x': expected a number, got str 'tall'"),
        (
            [b"x,n,colour\n1,2,red\n,2,red\n"],
            "row 1, column 'x': expected a number, got null (missing value)",
        ),
        ([b"x,n,colour\n1,2.5,red\n"], "row 0, column 'n': expected an integer"),
        ([b"x,n,colour\n1,2,green\n"], "row 0, column 'colour': unknown category 'green'"),
    ],
)
def test_bad_csv_uploads_are_named(files, words):
    with pytest.raises(InvalidRows) as err:
        Router(lambda t: None).files(route(), files)
    assert words in err.value.message


def test_text_files_are_one_row_each():
    base = route()
    text = base.model_copy(
        update={
            "signature": base.signature.model_copy(
                update={
                    "feature_schema": [Column(name="text", dtype=ColumnType.STRING)],
                    "input_type": InputType.TEXT,
                }
            )
        }
    )
    columns, n = Router(lambda t: None).files(text, [b"Lovely.", "Grim ☹".encode()])
    assert n == 2 and list(columns["text"]) == ["Lovely.", "Grim ☹"]
    with pytest.raises(InvalidRows, match="file 1 is not UTF-8 text"):
        Router(lambda t: None).files(text, [b"ok", b"\xff\xfe"])


NUMERIC = [
    Column(name="x", dtype=ColumnType.FLOAT),
    Column(name="n", dtype=ColumnType.INT),
    Column(name="flag", dtype=ColumnType.BOOL),
]


def numeric_route():
    base = route()
    return base.model_copy(
        update={"signature": base.signature.model_copy(update={"feature_schema": NUMERIC})}
    )


@pytest.mark.parametrize("copies", [1, 20])  # a few rows are checked in Python, many with numpy
def test_numeric_rows_become_one_matrix_whatever_their_form(copies):
    router = Router(lambda t: None)
    dicts = [{"x": 1.5, "n": 2, "flag": 1}, {"x": -3, "n": 0, "flag": 0}] * copies
    expected = np.array([[1.5, 2, 1], [-3, 0, 0]] * copies, dtype=np.float64)
    matrix, n = router.parse(numeric_route(), body(dicts))
    assert n == 2 * copies and matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, expected)
    # Positional rows and true/false take the general path and come out the same.
    lists = [[1.5, 2, True], [-3, 0, False]] * copies
    np.testing.assert_array_equal(router.parse(numeric_route(), body(lists))[0], expected)
    np.testing.assert_array_equal(router.parse_doc(numeric_route(), {"rows": dicts[0]})[0], expected[:1])


@pytest.mark.parametrize("copies", [1, 20])
@pytest.mark.parametrize(
    "bad, words",
    [
        ({"x": "tall"}, "column 'x': expected a number, got str 'tall'"),
        ({"x": None}, "column 'x': expected a number, got null (missing value)"),
        ({"x": float("inf")}, "column 'x': inf is not a finite number"),
        ({"x": float("nan")}, "column 'x': nan is not a finite number"),
        ({"n": 2.5}, "column 'n': expected an integer, got 2.5"),
        ({"x": [1]}, "column 'x': expected a number, got list"),
    ],
)
def test_bad_numbers_are_named_by_row_and_column(copies, bad, words):
    good = {"x": 1.0, "n": 1, "flag": True}
    rows = [good] * copies + [{**good, **bad}]
    with pytest.raises(InvalidRows) as err:
        Router(lambda t: None).parse_doc(numeric_route(), {"rows": rows})
    assert f"row {copies}, {words}" in err.value.message


def test_numeric_rows_with_wrong_columns_are_named():
    router = Router(lambda t: None)
    with pytest.raises(InvalidRows, match=r"row 1: missing column\(s\) \['flag'\]"):
        router.parse(numeric_route(), body([{"x": 1, "n": 1, "flag": 1}, {"x": 1, "n": 1}]))
    with pytest.raises(InvalidRows, match=r"row 0: unknown column\(s\) \['y'\]"):
        router.parse(numeric_route(), body([{"x": 1, "n": 1, "flag": 1, "y": 2}]))


def test_a_token_is_looked_up_for_a_missing_playground_as_for_a_private_one():
    """The time an answer takes does not tell which private playgrounds exist."""
    import time as _time

    from serving.router import Router

    looked_up: list[str] = []

    def authenticate(token: str):
        looked_up.append(token)
        return None

    router = Router(authenticate)
    router.synced_at = _time.monotonic()
    with pytest.raises(NotFound) as missing:
        router.resolve("no-such-playground", "Bearer aims_guess")
    assert looked_up == ["aims_guess"] and "has no deployed model" in missing.value.message
