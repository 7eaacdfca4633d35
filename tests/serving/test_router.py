"""The router's checks and formats, without Ray: bad bodies are named precisely."""

import numpy as np
import orjson
import pytest

from aims_spaces.access import Caller
from aims_spaces.domain import Column, ColumnType, Route, TaskType
from aims_spaces.errors import AuthenticationRequired, NotFound
from aims_spaces.onnx_model import ModelOutput
from serving.router import InvalidRows, Router, TokenCache

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
        task_type=TaskType.CLASSIFICATION,
        classes=["no", "yes"],
        feature_schema=SCHEMA,
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
        (b"{not json", "not valid JSON"),
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
    router.routes = {"p": route(private=True)}
    assert router.resolve("p", "Bearer member").version == 3
    assert router.resolve("p", "Bearer admin").version == 3
    for header in (None, "Bearer other", "Basic member"):
        with pytest.raises(NotFound, match="no deployed model"):
            router.resolve("p", header)
    with pytest.raises(AuthenticationRequired):
        router.resolve("p", "Bearer forged")
    with pytest.raises(NotFound):
        router.resolve("nothing-here", None)
    router.routes = {"p": route(private=False)}
    assert router.resolve("p", None).version == 3


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
