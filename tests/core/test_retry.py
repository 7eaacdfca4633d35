"""Which failed predictions are tried again: a model still loading is waited out, an error met on
the way (a connection lost, a proxy's own 5xx) is retried a few times, and the server's own
answers (typed JSON errors) are not."""

from __future__ import annotations

import pytest

from aims_spaces.core.retry import while_loading
from aims_spaces.errors import HubUnavailable, InvalidInput, ModelLoading, ServerError, error_from_payload


def failing(*errors: Exception):
    """A call that raises ``errors`` one by one, then answers; it counts its calls."""
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "answer"

    return call, calls


def test_what_counts_as_met_on_the_way():
    assert error_from_payload(500, "Internal Server Error").transient  # Serve's proxy, a replica lost
    assert error_from_payload(502, "<html>Bad Gateway</html>").transient
    assert HubUnavailable("cannot reach").transient
    typed = {"error": {"code": "ServerError", "message": "a bug"}}
    assert not error_from_payload(500, typed).transient  # the server's own answer
    slow = {"error": {"code": "EvaluationFailed", "message": "the prediction ran longer than 30 s"}}
    assert not error_from_payload(503, slow).transient
    assert not error_from_payload(422, "bad").transient


def test_transient_errors_are_retried_a_few_times_and_others_never():
    call, calls = failing(error_from_payload(500, "Internal Server Error"), HubUnavailable("reset"))
    assert while_loading(call, backoff_s=(0, 0, 0)) == "answer" and len(calls) == 3

    call, calls = failing(*[HubUnavailable("down")] * 4)
    with pytest.raises(HubUnavailable):
        while_loading(call, backoff_s=(0, 0, 0))
    assert len(calls) == 4  # the first try and three more

    for error in (InvalidInput("no such column"), ServerError("a bug")):
        call, calls = failing(error)
        with pytest.raises(type(error)):
            while_loading(call, backoff_s=(0, 0, 0))
        assert len(calls) == 1

    call, calls = failing(ModelLoading("loading"), error_from_payload(502, "Bad Gateway"))
    assert while_loading(call, backoff_s=(0,)) == "answer" and len(calls) == 3
