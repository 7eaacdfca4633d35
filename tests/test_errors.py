import pytest

import aims_spaces
from aims_spaces import errors


def _leaves() -> list[type[errors.AimsError]]:
    return [getattr(errors, name) for name in errors.__all__ if isinstance(getattr(errors, name), type)]


@pytest.mark.parametrize("cls", _leaves(), ids=lambda c: c.__name__)
def test_every_error_survives_the_wire(cls: type[errors.AimsError]) -> None:
    err = cls("something specific went wrong")
    back = errors.error_from_payload(errors.http_status(err), err.to_payload())
    assert type(back) is cls
    assert back.message == "something specific went wrong"


def test_errors_inherit_the_fitting_builtin() -> None:
    assert issubclass(errors.PlaygroundNotFound, LookupError)
    assert issubclass(errors.PermissionDenied, PermissionError)
    assert issubclass(errors.InvalidPredictions, ValueError)
    assert issubclass(errors.HubUnavailable, ConnectionError)


def test_client_errors_are_4xx_and_unknown_codes_fall_back_by_status() -> None:
    for cls in _leaves():
        if cls not in (
            errors.AimsError,
            errors.ServerError,
            errors.HubUnavailable,
            errors.ModelLoading,
            errors.DeploymentFailed,
        ):
            assert 400 <= cls.status_code < 500, cls
    assert type(errors.error_from_payload(404, {"detail": "x"})) is errors.NotFound
    assert type(errors.error_from_payload(502, "bad gateway")) is errors.ServerError


def test_public_names_match_all() -> None:
    for name in aims_spaces.__all__:
        assert hasattr(aims_spaces, name), name
