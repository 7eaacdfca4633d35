"""Waiting out a model that is still loading, for every caller of the prediction endpoint (the
client's ``predict`` and the hub's demo tab)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import ModelLoading

T = TypeVar("T")
LOADING_WAIT_S = 60.0


def while_loading(call: Callable[[], T], wait_s: float = LOADING_WAIT_S) -> T:
    """``call()``, again each second while the model server answers that the model is still
    loading (503 :class:`ModelLoading`, after a cache eviction or on a new replica), for at most
    ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return call()
        except ModelLoading:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
