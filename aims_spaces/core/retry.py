"""Waiting out a model that is still loading, and errors met on the way, for every caller of the
prediction endpoint (the client's ``predict`` and the hub's demo tab)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import AimsError, ModelLoading

T = TypeVar("T")
LOADING_WAIT_S = 60.0
# Pauses before each retry of a transient error (AimsError.transient): a node lost under a
# replica costs a request up to ~2 s (docs/benchmarks.md, "A worker node lost").
TRANSIENT_BACKOFF_S = (0.5, 1.0, 2.0)


def while_loading(
    call: Callable[[], T], wait_s: float = LOADING_WAIT_S, backoff_s: tuple[float, ...] = TRANSIENT_BACKOFF_S
) -> T:
    """``call()``, again each second while the model server answers that the model is still
    loading (503 :class:`ModelLoading`, after a cache eviction or on a new replica), for at most
    ``wait_s`` seconds; and again after each pause of ``backoff_s`` when the call fails in
    passing (a transient error: connection refused or reset, a proxy's own 5xx). Only for calls
    that may be repeated (a prediction may)."""
    deadline = time.monotonic() + wait_s
    pauses = iter(backoff_s)
    while True:
        try:
            return call()
        except ModelLoading:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
        except AimsError as e:
            pause = next(pauses, None) if e.transient else None
            if pause is None:
                raise
            time.sleep(pause)
