"""transformers models to ONNX: exported like any PyTorch module (see :mod:`.torch`), tagged
``transformers``, with the facts of their config beside the layer metadata."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...domain import Signature
from . import ConvertedModel
from . import torch as torch_conversion

# Config fields worth a leaderboard column, where a model's config has them.
CONFIG_FIELDS = (
    "model_type",
    "architectures",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "image_size",
    "patch_size",
    "num_labels",
)


def is_transformers_model(model: Any) -> bool:
    return torch_conversion.is_torch_module(model) and type(model).__module__.startswith("transformers")


def config_facts(model: Any) -> dict[str, Any]:
    """The architecture-defining fields of the model's config (JSON scalars and lists only)."""
    config = getattr(model, "config", None)
    if config is None:
        return {}
    out: dict[str, Any] = {}
    for key in CONFIG_FIELDS:
        value = getattr(config, key, None)
        if isinstance(value, (str, int, float, bool)) or (
            isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)
        ):
            out[key] = value
    return out


def convert(
    model: Any,
    signature: Signature,
    *,
    sample: pd.DataFrame | None,
    preprocessor: Any = None,
    optimizer: Any = None,
    loss: Any = None,
) -> ConvertedModel:
    converted = torch_conversion.convert(
        model,
        signature,
        sample=sample,
        preprocessor=preprocessor,
        optimizer=optimizer,
        loss=loss,
        framework="transformers",
    )
    facts = config_facts(model)
    if facts:
        converted.metadata["config"] = facts
    return converted
