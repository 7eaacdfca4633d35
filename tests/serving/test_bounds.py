"""What one request or one model may cost a replica, without Ray: request bodies within their
limit (refused by Content-Length, or as soon as a stream passes it), multipart files capped,
model loads and prediction runs stopped at their time limits."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from starlette.datastructures import Headers

from aims_spaces.client.conversion import convert
from aims_spaces.core.onnx_model import Deadline, OnnxModel
from aims_spaces.core.tabular import infer_schema
from aims_spaces.domain import Route, TaskType
from aims_spaces.errors import InvalidModel, PayloadTooLarge
from aims_spaces.hub.storage import ArtifactStore
from serving.model_server import ModelServer
from serving.router import MAX_FILES, BodyLimit, InvalidRows, check_length, read_body, read_files
from tests.conftest import signature
from tests.evaluators.runaway_models import loop_for_ever


def run(coroutine):
    """Run a coroutine to its end on a fresh event loop in its own thread (a browser test's
    sync Playwright may hold this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


MIB = 2**20


class Stream:
    """An ASGI ``receive`` delivering ``chunks`` pieces of ``size`` bytes, counting reads."""

    def __init__(self, chunks: int, size: int = 64 * 1024, body: bytes | None = None) -> None:
        self.pieces = [body] if body is not None else [b"x" * size] * chunks
        self.reads = 0

    async def __call__(self) -> dict:
        self.reads += 1
        if self.reads > len(self.pieces):
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": self.pieces[self.reads - 1],
            "more_body": self.reads < len(self.pieces),
        }


def test_a_body_over_the_limit_is_refused_by_its_length_before_reading():
    check_length(b"1024", 1024)
    check_length(None, 1024)  # chunked: the stream is counted instead
    with pytest.raises(PayloadTooLarge) as err:
        check_length(b"33554433", 32 * MIB)
    assert err.value.status_code == 413
    assert "32 MiB" in err.value.message and "AIMS_MAX_PREDICT_MB" in err.value.message


def test_a_streamed_body_stops_being_read_once_it_passes_the_limit():
    stream = Stream(chunks=10_000)  # 625 MiB if read to the end
    with pytest.raises(PayloadTooLarge, match="AIMS_MAX_PREDICT_MB"):
        run(read_body(BodyLimit(stream, 1 * MIB)))
    assert stream.reads == 17  # 16 chunks make 1 MiB; the 17th passes it
    assert run(read_body(BodyLimit(Stream(chunks=4), 1 * MIB))) == b"x" * 4 * 64 * 1024


def _multipart(n_files: int) -> tuple[Headers, bytes]:
    boundary = "b0undary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{i}.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nrow {i}\r\n"
        for i in range(n_files)
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return Headers({"content-type": f"multipart/form-data; boundary={boundary}"}), body


def test_multipart_files_are_read_and_capped():
    def files(headers: Headers, body: bytes) -> list[bytes]:
        return run(read_files(headers, BodyLimit(Stream(0, body=body), 32 * MIB)))

    assert files(*_multipart(3)) == [b"row 0", b"row 1", b"row 2"]
    with pytest.raises(InvalidRows, match=f"more than {MAX_FILES} files"):
        files(*_multipart(MAX_FILES + 1))
    with pytest.raises(InvalidRows, match="does not parse"):
        files(Headers({"content-type": "multipart/form-data"}), b"x")  # no boundary
    headers, body = _multipart(2000)  # ~180 KiB of parts: the body limit stops it first
    with pytest.raises(PayloadTooLarge):
        run(read_files(headers, BodyLimit(Stream(0, body=body), 64 * 1024)))


@pytest.fixture(scope="module")
def store_and_route(iris, tmp_path_factory):
    X, y = iris["X_train"], iris["y_train"]
    sig = signature(infer_schema(X), TaskType.CLASSIFICATION, sorted(set(y)))
    onnx = convert(LogisticRegression(max_iter=500).fit(X, y), sig).onnx
    store = ArtifactStore(tmp_path_factory.mktemp("store"))

    def route(model: bytes) -> Route:
        sha, _ = store.put(model)
        return Route(
            playground="iris",
            version=1,
            model_sha256=sha,
            signature=sig,
            private=False,
            example=iris["X_test"].head(2).to_dict("records"),
        )

    return ModelServer(store.url), route(onnx), route(loop_for_ever(onnx)), loop_for_ever(onnx)


def test_a_model_that_hangs_in_its_warm_up_times_out_loading(store_and_route):
    server, _, runaway, _ = store_and_route
    start = time.monotonic()
    with pytest.raises(InvalidModel, match=r"timed out loading after 0\.5 s"):
        server.load(runaway, timeout_s=0.5)
    assert time.monotonic() - start < 5


def test_a_batch_past_its_deadline_raises_the_deadlines_error(store_and_route, iris):
    server, normal, _, runaway_onnx = store_and_route
    rows = iris["X_test"].to_numpy(dtype=np.float64)
    requests = [(rows[:2], 2), (rows[2:5], 3)]
    model = server.load(normal, timeout_s=30)
    outs = server.run_batch(model, requests, Deadline.after(30))
    assert [len(o.indices) for o in outs] == [2, 3]
    stuck = OnnxModel(runaway_onnx, normal.signature).load()  # not warmed: that never ends
    with pytest.raises(InvalidModel, match="ran longer than 0.3 s"):
        server.run_batch(stuck, requests, Deadline.after(0.3))
