"""PyTorch modules to ONNX, and the architecture metadata read from them (transformers models
go through here too, see :mod:`.transformers`).

``torch.onnx.export`` (the dynamo exporter) traces the module on example inputs with a dynamic
batch axis. The original weights go up as safetensors (tensors only, nothing to unpickle);
``ModelPlayground.instantiate_model(v, into=module)`` loads them back into a user's module.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ...domain import Signature
from ...errors import InvalidModel
from . import ConvertedModel
from ._network import check_parity, network_feeds, tagged

log = logging.getLogger(__name__)

OPSET = 18


def is_torch_module(model: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def convert(
    module: Any,
    signature: Signature,
    *,
    sample: pd.DataFrame | None,
    preprocessor: Any = None,
    optimizer: Any = None,
    loss: Any = None,
    framework: str = "pytorch",
) -> ConvertedModel:
    """Export ``module`` on sample feeds, check the graph against the module, keep its weights."""
    rows, feeds = network_feeds("PyTorch module", sample, signature, preprocessor)
    onnx_bytes = tagged(export_onnx(module, feeds), framework)
    check_parity("module", onnx_bytes, rows, run_module(module, feeds), signature, preprocessor)
    return ConvertedModel(
        onnx=onnx_bytes,
        framework=framework,
        model_type=type(module).__name__,
        metadata=torch_metadata(module, feeds, optimizer, loss),
        original=safetensors_bytes(module),
    )


def _tensors(feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in feeds.items()}


def _positional(module: Any, feeds: dict[str, Any]) -> bool:
    """Whether ``module`` takes its one input positionally under another name (``nn.Sequential``
    calls it ``input``), rather than as keyword arguments named like ``feeds``."""
    try:
        params = inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
    if len(feeds) != 1 or next(iter(feeds)) in params:
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params.values() if p.kind in kinds and p.default is inspect.Parameter.empty]
    return len(required) == 1


def _call(module: Any, inputs: dict[str, Any]) -> Any:
    return module(*inputs.values()) if _positional(module, inputs) else module(**inputs)


def export_onnx(module: Any, feeds: dict[str, np.ndarray]) -> bytes:
    """ONNX bytes of ``module`` called with inputs ``feeds`` (batch axis dynamic): as keyword
    arguments, or positionally when the module takes one input under another name. The graph's
    inputs are named as ``feeds``."""
    import torch

    inputs = _tensors(feeds)
    batch = torch.export.Dim("batch")
    shapes: Any
    if _positional(module, inputs):
        args, kwargs, shapes = tuple(inputs.values()), None, ({0: batch},)
    else:
        args, kwargs, shapes = (), inputs, {name: {0: batch} for name in inputs}
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                args,
                kwargs=kwargs,
                input_names=list(inputs),
                dynamic_shapes=shapes,
                dynamo=True,
                opset_version=OPSET,
                verbose=False,
            )
    except Exception as e:  # the exporter raises many kinds; all mean "this module did not export"
        raise InvalidModel(
            f"torch.onnx.export could not export the {type(module).__name__}: {_summary(e)}"
        ) from None
    finally:
        module.train(was_training)
    if program is None:
        raise InvalidModel(f"torch.onnx.export gave no ONNX program for the {type(module).__name__}")
    return program.model_proto.SerializeToString()


def _summary(error: Exception) -> str:
    """The exporter's own summary of what went wrong, without colour codes or advice."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    if "## Exception summary" in text:
        text = text.split("## Exception summary", 1)[1].split("(Refer to", 1)[0]
    return " ".join(text.split())[:1000]


def run_module(module: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The module's first output on ``feeds``, as numpy (for parity checks)."""
    import torch

    module.eval()
    with torch.no_grad():
        out = _call(module, _tensors(feeds))
    if hasattr(out, "logits"):
        out = out.logits
    elif isinstance(out, (tuple, list)):
        out = out[0]
    return out.detach().cpu().numpy()


def safetensors_bytes(module: Any) -> bytes:
    from safetensors.torch import save

    # Tied weights share storage, which safetensors refuses; each tensor gets its own copy.
    state = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    return save(state)


def load_weights(module: Any, data: bytes) -> Any:
    from safetensors.torch import load

    try:
        module.load_state_dict(load(data), strict=True)
    except RuntimeError as e:
        raise InvalidModel(f"the weights do not fit this {type(module).__name__}: {e}"[:2000]) from None
    return module


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)[:100]


def describe_optimizer(optimizer: Any) -> dict[str, Any] | None:
    if optimizer is None:
        return None
    groups = getattr(optimizer, "param_groups", None) or [{}]
    settings = {k: _jsonable(v) for k, v in groups[0].items() if k != "params"}
    return {"type": type(optimizer).__name__, **settings}


def describe_loss(loss: Any) -> dict[str, Any] | None:
    if loss is None:
        return None
    out: dict[str, Any] = {"type": getattr(loss, "__name__", None) or type(loss).__name__}
    for attr in ("reduction", "label_smoothing", "ignore_index", "delta", "beta", "margin"):
        if hasattr(loss, attr):
            out[attr] = _jsonable(getattr(loss, attr))
    return out


def torch_metadata(
    module: Any, feeds: dict[str, np.ndarray], optimizer: Any = None, loss: Any = None
) -> dict[str, Any]:
    """Layer types with counts, each layer's output shape and parameters, totals, depth, size."""
    import torch

    layers: list[dict[str, Any]] = []
    hooks = []
    leaves = [(name, m) for name, m in module.named_modules() if name and not list(m.children())]

    def record(name: str, m: Any) -> Any:
        def hook(_m: Any, _inputs: Any, output: Any) -> None:
            out = output[0] if isinstance(output, (tuple, list)) and output else output
            shape = list(out.shape) if hasattr(out, "shape") else None
            if shape:
                shape[0] = "batch"
            layers.append(
                {
                    "name": name,
                    "type": type(m).__name__,
                    "output_shape": shape,
                    "parameters": int(sum(p.numel() for p in m.parameters(recurse=False))),
                }
            )

        return hook

    for name, m in leaves:
        hooks.append(m.register_forward_hook(record(name, m)))
    try:
        module.eval()
        with torch.no_grad():
            _call(module, _tensors({k: v[:1] for k, v in feeds.items()}))
    except Exception as e:  # metadata is a courtesy; the conversion itself has already succeeded
        log.warning("could not trace layer shapes: %s", e)
    finally:
        for h in hooks:
            h.remove()
    seen = {entry["name"] for entry in layers}
    for name, m in leaves:  # layers the sample call did not reach still count
        if name not in seen:
            layers.append(
                {
                    "name": name,
                    "type": type(m).__name__,
                    "output_shape": None,
                    "parameters": int(sum(p.numel() for p in m.parameters(recurse=False))),
                }
            )
    params = list(module.parameters())
    size = sum(p.numel() * p.element_size() for p in params) + sum(
        b.numel() * b.element_size() for b in module.buffers()
    )
    depth = max((name.count(".") + 1 for name, _ in module.named_modules() if name), default=0)
    meta: dict[str, Any] = {
        "estimator": type(module).__name__,
        "layer_types": dict(sorted(Counter(entry["type"] for entry in layers).items())),
        "layers": layers[:500],
        "total_parameters": int(sum(p.numel() for p in params)),
        "trainable_parameters": int(sum(p.numel() for p in params if p.requires_grad)),
        "depth": depth,
        "size_bytes": int(size),
        "library_version": f"torch {torch.__version__}",
    }
    if optimizer is not None:
        meta["optimizer"] = describe_optimizer(optimizer)
    if loss is not None:
        meta["loss"] = describe_loss(loss)
    return meta
