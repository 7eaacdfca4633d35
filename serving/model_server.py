"""Loading ONNX models for serving and running batches of requests through them.

Plain Python: the Serve deployment keeps the loaded models in ``@serve.multiplexed``'s LRU and
calls :meth:`ModelServer.load` on a miss and :meth:`ModelServer.run_batch` per batch. Loading
(with its warm-up run) and running take a time limit: the model is stopped when it passes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aims_spaces.core import preprocess
from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.media import encode_image
from aims_spaces.core.onnx_model import Deadline, Inputs, ModelOutput, OnnxModel
from aims_spaces.domain import ColumnType, Route
from aims_spaces.errors import InvalidModel
from aims_spaces.hub.storage import ArtifactStore

log = logging.getLogger(__name__)


def load_timed_out(limit_s: float) -> str:
    return (
        f"timed out loading after {limit_s:g} s: the model took longer than this hub allows to "
        "load and warm up"
    )


class LoadedModel:
    """An ONNX model bound to one playground's route, as held in a replica's cache."""

    def __init__(
        self, route: Route, model: OnnxModel, on_unload: Callable[[str], None] | None = None
    ) -> None:
        self.route = route
        self.model = model
        self._on_unload = on_unload
        # Seconds its latest run took (unknown at first): a fast model runs on the replica's
        # event loop, a slow one on a thread, so it holds up no other playground's requests.
        self.run_s = math.inf

    def __del__(self) -> None:
        # Ray Serve's multiplexer calls this when it evicts the model from its LRU.
        callback, self._on_unload = self._on_unload, None
        if callback is not None:
            callback(self.route.model_key)


class ModelServer:
    def __init__(self, artifact_url: str, threads: int = 1, limits: DecodeLimits | None = None) -> None:
        self.store = ArtifactStore(artifact_url)
        self.threads = threads
        self.limits = limits  # the hub's bounds on decoding the media a preprocessor takes

    def load(self, route: Route, *, timeout_s: float | None = None) -> OnnxModel:
        """Load the route's model and run it once on its example rows (or one made-up row), so
        the first real request finds it warm.

        Args:
            route: what to load.
            timeout_s: limit of the load and the warm-up run together.

        Raises:
            InvalidModel: the model cannot be loaded or run, or took longer than ``timeout_s``
                ("timed out loading after N s").
        """
        deadline = None
        if timeout_s is not None:
            limit = timeout_s

            def error() -> Exception:
                return InvalidModel(load_timed_out(limit))

            deadline = Deadline.after(timeout_s, error)
        data = self.store.get(route.model_sha256)
        preprocessor = None
        if route.preprocessor_sha256:
            preprocessor = preprocess.load(self.store.get(route.preprocessor_sha256), limits=self.limits)
        model = OnnxModel(data, route.signature, threads=self.threads, preprocessor=preprocessor)
        model.load(deadline=deadline)
        model.run(warm_up_columns(route), deadline=deadline)
        return model

    @staticmethod
    def run_batch(
        model: OnnxModel, requests: Sequence[tuple[Inputs, int]], deadline: Deadline | None = None
    ) -> list[ModelOutput]:
        """Run several requests' rows as one call and split the outputs back per request.

        One playground's requests come alike from the router: all matrices, or all mappings."""
        if len(requests) == 1:
            return [model.run(requests[0][0], deadline=deadline)]
        first = requests[0][0]
        merged: Inputs
        if isinstance(first, np.ndarray):
            merged = np.concatenate([x for x, _ in requests])  # type: ignore[misc]
        else:
            merged = {name: np.concatenate([cols[name] for cols, _ in requests]) for name in first}  # type: ignore[index]
        out = model.run(merged, deadline=deadline)
        results, start = [], 0
        for _, n in requests:
            stop = start + n
            results.append(
                ModelOutput(
                    indices=None if out.indices is None else out.indices[start:stop],
                    probabilities=None if out.probabilities is None else out.probabilities[start:stop],
                    values=None if out.values is None else out.values[start:stop],
                )
            )
            start = stop
        return results


def warm_up_columns(route: Route) -> dict[str, Any]:
    """Rows to run a freshly loaded model on: the playground's example rows, or one made up."""
    schema = route.signature.feature_schema
    if route.example:
        return {
            c.name: np.array(
                [row[c.name] for row in route.example], dtype=np.float64 if c.dtype.numeric else object
            )
            for c in schema
        }
    if not schema:
        raise InvalidModel("the playground has no feature schema to serve a model with")
    columns: dict[str, Any] = {}
    for c in schema:
        column = np.empty(1, dtype=object)
        if c.dtype.numeric:
            column = np.zeros(1)
        elif c.dtype is ColumnType.IMAGE:
            column[0] = encode_image(np.zeros((8, 8), dtype=np.uint8))
        else:
            column[0] = (c.categories or [""])[0]
        columns[c.name] = column
    return columns
