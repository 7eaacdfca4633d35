"""Client-side conversion to ONNX, with the metadata each framework can tell, one module per
framework:

- :mod:`.sklearn`: estimators and Pipelines through skl2onnx (the original as a skops file);
- :mod:`.torch`: PyTorch modules through ``torch.onnx.export`` (weights as safetensors);
- :mod:`.transformers`: transformers models, exported like any PyTorch module, with their config;
- :mod:`.keras`: Keras 3 models on the PyTorch backend.

ONNX models (bytes, a path or a ``ModelProto``) pass through. Every converter takes the
playground's :class:`~aims_spaces.domain.Signature` and checks the exported graph against the
original on sample rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ...core.onnx_model import parse_onnx
from ...domain import Signature
from ...errors import InvalidModel


@dataclass
class ConvertedModel:
    """An ONNX model ready to upload, with what the client learnt about the original."""

    onnx: bytes
    framework: str
    model_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    original: bytes | None = None  # skops file (scikit-learn) or safetensors weights (networks)


def convert(
    model: Any,
    signature: Signature,
    *,
    sample: pd.DataFrame | None = None,
    preprocessor: Any = None,
    optimizer: Any = None,
    loss: Any = None,
) -> ConvertedModel:
    """Turn ``model`` into ONNX for a playground with this signature.

    A network's outputs must follow the playground's class order (``signature.classes``); a
    ``preprocessor`` (see :mod:`aims_spaces.core.preprocess`) makes its inputs from raw values;
    ``optimizer`` and ``loss`` of a PyTorch model are recorded as metadata.
    """
    onnx_bytes = _as_onnx_bytes(model)
    if onnx_bytes is not None:
        parse_onnx(onnx_bytes)
        return ConvertedModel(onnx=onnx_bytes, framework="onnx", model_type="onnx")
    from . import keras, sklearn, torch, transformers

    if keras.is_keras_model(model):
        return keras.convert(model, signature, sample=sample, preprocessor=preprocessor)
    if transformers.is_transformers_model(model):
        return transformers.convert(
            model, signature, sample=sample, preprocessor=preprocessor, optimizer=optimizer, loss=loss
        )
    if torch.is_torch_module(model):
        return torch.convert(
            model, signature, sample=sample, preprocessor=preprocessor, optimizer=optimizer, loss=loss
        )
    if sklearn.is_sklearn_model(model):
        return sklearn.convert(model, signature, sample=sample, preprocessor=preprocessor)
    raise InvalidModel(
        f"cannot convert a {type(model).__module__}.{type(model).__name__}: pass a fitted "
        "scikit-learn estimator or Pipeline, a PyTorch module, a Keras model, or an ONNX model "
        "(bytes, a .onnx path or a ModelProto)"
    )


def _as_onnx_bytes(model: Any) -> bytes | None:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise InvalidModel(f"no model file at {path}")
        return path.read_bytes()
    if type(model).__name__ == "ModelProto" and hasattr(model, "SerializeToString"):
        return model.SerializeToString()
    return None


__all__ = ["ConvertedModel", "convert"]
