import re
import subprocess
import sys

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


def test_the_drawn_tree_states_every_status() -> None:
    """The module docstring's tree and the classes agree: each class appears, with its status."""
    drawn = {}
    for line in (errors.__doc__ or "").splitlines():
        match = re.search(r"([A-Z][A-Za-z]+)\b[^0-9]*?\s(\d{3})\b", line)
        if match and hasattr(errors, match.group(1)):
            drawn[match.group(1)] = int(match.group(2))
    for cls in _leaves():
        if cls is errors.AimsError:
            continue
        assert drawn.get(cls.__name__) == cls.status_code, cls.__name__


def test_the_facade_is_cheap_and_complete() -> None:
    """Every public name resolves; importing the package loads no client, hub or framework."""
    code = (
        "import sys, aims_spaces\n"
        "heavy = {'pandas', 'httpx', 'sqlalchemy', 'ray', 'gradio', 'onnx', 'torch'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "missing = [n for n in aims_spaces.__all__ if getattr(aims_spaces, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert sorted(aims_spaces.__all__) == sorted(set(aims_spaces.__all__))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_messages_never_carry_a_path_of_the_machine() -> None:
    err = errors.InvalidModel(
        "onnxruntime cannot load the model: Load model from /tmp/aims/x.onnx "
        "failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:180 Model"
    )
    message = err.to_payload()["error"]["message"]
    assert "/tmp" not in message and "onnxruntime_src" not in message and "<path>" in message
    kept = "no such endpoint: /api/nope; see http://127.0.0.1:8000/iris/predict"
    assert errors.public_message(kept) == kept
    assert len(errors.public_message("x" * 5000)) == 2000
