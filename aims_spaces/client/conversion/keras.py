"""Keras 3 models to ONNX (on the PyTorch backend: set
``KERAS_BACKEND=torch`` before importing keras; TensorFlow is not a dependency).

Keras exports through ``torch.onnx`` (``model.export(format="onnx")``); the graph's input is then
renamed to what the playground's preprocessor feeds. The weights go up as safetensors, keyed by
each variable's path.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...domain import Signature
from ...errors import InvalidModel
from . import ConvertedModel
from ._network import check_parity, network_feeds, tagged


def is_keras_model(model: Any) -> bool:
    return (
        type(model).__module__.startswith("keras") and hasattr(model, "export") and hasattr(model, "layers")
    )


def convert(
    model: Any, signature: Signature, *, sample: pd.DataFrame | None, preprocessor: Any = None
) -> ConvertedModel:
    """Export ``model`` on sample feeds, check the graph against the model, keep its weights."""
    rows, feeds = network_feeds("Keras model", sample, signature, preprocessor)
    if len(feeds) != 1:
        raise InvalidModel("a Keras model takes one input here; this preprocessor makes several")
    ((name, x),) = feeds.items()
    expected = run_model(model, x)  # also builds a model that was never called, which export needs
    onnx_bytes = tagged(export_onnx(model, name), "keras")
    check_parity("Keras model", onnx_bytes, rows, expected, signature, preprocessor)
    return ConvertedModel(
        onnx=onnx_bytes,
        framework="keras",
        model_type=type(model).__name__,
        metadata=keras_metadata(model),
        original=weights_bytes(model),
    )


def export_onnx(model: Any, input_name: str) -> bytes:
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        try:
            model.export(str(path), format="onnx", verbose=False)
        except Exception as e:  # keras wraps the exporter's many error kinds
            raise InvalidModel(
                f"keras could not export the {type(model).__name__} to ONNX: {e}"[:1000]
            ) from None
        proto = onnx.load(str(path))
    if len(proto.graph.input) != 1:
        raise InvalidModel(f"the Keras model takes {len(proto.graph.input)} inputs; one is supported")
    old = proto.graph.input[0].name
    if old != input_name:
        proto.graph.input[0].name = input_name
        for node in proto.graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = input_name
    return proto.SerializeToString()


def run_model(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, verbose=0))


def weights_bytes(model: Any) -> bytes:
    from safetensors.numpy import save

    # Keyed by position first: a rebuilt model's variable paths carry new auto-generated names.
    return save(
        {f"{i:05d}|{w.path}": np.ascontiguousarray(np.asarray(w)) for i, w in enumerate(model.weights)}
    )


def load_weights(model: Any, data: bytes) -> Any:
    from safetensors.numpy import load

    tensors = [value for _, value in sorted(load(data).items())]
    if len(tensors) != len(model.weights):
        raise InvalidModel(
            f"the weights do not fit this {type(model).__name__}: {len(tensors)} saved, "
            f"{len(model.weights)} here"
        )
    for w, value in zip(model.weights, tensors, strict=True):
        if tuple(w.shape) != value.shape:
            raise InvalidModel(
                f"the weights do not fit: {w.path} has shape {tuple(w.shape)}, saved {value.shape}"
            )
        w.assign(value)
    return model


def keras_metadata(model: Any) -> dict[str, Any]:
    import keras

    layers = []
    for layer in model.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None)
        layers.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": ["batch", *list(shape)[1:]] if shape is not None else None,
                "parameters": int(layer.count_params()),
            }
        )
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    meta: dict[str, Any] = {
        "estimator": type(model).__name__,
        "layer_types": dict(sorted(Counter(entry["type"] for entry in layers).items())),
        "layers": layers[:500],
        "total_parameters": int(model.count_params()),
        "trainable_parameters": trainable,
        "depth": len(model.layers),
        "size_bytes": int(sum(np.asarray(w).nbytes for w in model.weights)),
        "library_version": f"keras {keras.__version__} ({keras.backend.backend()} backend)",
    }
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        config = optimizer.get_config()
        meta["optimizer"] = {
            "type": type(optimizer).__name__,
            **{
                k: float(v) if isinstance(v, (np.floating, float)) else v
                for k, v in config.items()
                if isinstance(v, (int, float, str, bool, np.floating))
            },
        }
    loss = getattr(model, "loss", None)
    if loss is not None:
        meta["loss"] = {"type": loss if isinstance(loss, str) else type(loss).__name__}
        if hasattr(loss, "get_config"):
            meta["loss"].update(
                {k: v for k, v in loss.get_config().items() if isinstance(v, (int, float, str, bool))}
            )
    return meta
