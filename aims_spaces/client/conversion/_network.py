"""Steps every network converter shares (PyTorch, transformers, Keras): the sample feeds, the
framework tag in the ONNX metadata, and the parity check of the exported graph."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from ...core.onnx_model import META_FRAMEWORK, OnnxModel
from ...domain import Signature
from ...errors import InvalidModel

log = logging.getLogger(__name__)


def network_feeds(
    kind: str, sample: pd.DataFrame | None, signature: Signature, preprocessor: Any
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Sample rows and the input tensors a network gets for them: the preprocessor's, or one
    float32 matrix ``X`` of the numeric columns."""
    schema = signature.feature_schema
    if sample is None or sample.empty:
        raise InvalidModel(f"converting a {kind} needs sample rows (the playground's eval features)")
    rows = sample.head(8)
    if preprocessor is not None:
        return rows, preprocessor.feeds(rows[schema[0].name])
    if any(not c.dtype.numeric for c in schema):
        raise InvalidModel(f"a {kind} on string columns needs a preprocessor")
    return rows, {"X": rows[signature.column_names].to_numpy(dtype=np.float32)}


def tagged(onnx_bytes: bytes, framework: str) -> bytes:
    """The ONNX model with the framework it came from recorded in its metadata."""
    import onnx

    onx = onnx.load_model_from_string(onnx_bytes)
    onnx.helper.set_model_props(onx, {META_FRAMEWORK: framework})
    return onx.SerializeToString()


def check_parity(
    kind: str,
    onnx_bytes: bytes,
    rows: pd.DataFrame,
    expected: np.ndarray,
    signature: Signature,
    preprocessor: Any,
) -> None:
    """Run the exported graph the way the hub will and compare it with the network's own output
    on the same rows; a classifier must give one score per playground class."""
    classes = signature.classes or []
    if signature.classification and (expected.ndim != 2 or expected.shape[1] != len(classes)):
        raise InvalidModel(
            f"the {kind}'s output has shape {list(expected.shape)}; a classifier here must give "
            f"[batch, {len(classes)}] scores, one per class in the order {signature.classes}"
        )
    out = OnnxModel(onnx_bytes, signature, preprocessor=preprocessor).load().run(rows)
    if signature.classification:
        mismatches = int(np.sum(out.indices != expected.argmax(axis=1)))
    else:
        assert out.values is not None  # a regression model's output
        mismatches = int(np.sum(~np.isclose(out.values, expected.reshape(-1), rtol=1e-4, atol=1e-5)))
    if mismatches:
        log.warning("the ONNX export disagrees with the %s on %d sample row(s)", kind, mismatches)
