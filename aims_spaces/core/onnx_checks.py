"""Bounds on an uploaded ONNX model, checked on the parsed graph before onnxruntime sees it:
no tensor stored outside the file (an "external data" reference would make onnxruntime read a
file of the machine that loads it), at most so many nodes (subgraphs and functions included),
and only operator domains onnxruntime ships (no custom-op libraries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import InvalidModel

# The standard operator sets and the ones built into onnxruntime and the converters' output.
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"})
MAX_DEPTH = 16


def _graphs(graph: Any, depth: int = 0) -> Iterator[Any]:
    """``graph`` and every subgraph inside its nodes' attributes (Loop, If, Scan bodies)."""
    if depth > MAX_DEPTH:
        raise InvalidModel(f"the ONNX graph nests subgraphs more than {MAX_DEPTH} levels deep")
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g, depth + 1)
            for sub in attr.graphs:
                yield from _graphs(sub, depth + 1)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor stored in ``graph`` (a GraphProto or FunctionProto): initializers and
    constant attributes."""
    yield from getattr(graph, "initializer", ())
    for sparse in getattr(graph, "sparse_initializer", ()):
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def check_graph(model: Any, *, max_nodes: int) -> None:
    """Raise :class:`InvalidModel` when the parsed ``model`` (an ``onnx.ModelProto``) refers to
    data outside itself, holds more than ``max_nodes`` nodes, or uses an operator domain
    onnxruntime does not ship."""
    import onnx

    graphs = list(_graphs(model.graph))
    for function in model.functions:
        graphs.extend(_graphs(function))  # FunctionProto has nodes like a graph
    nodes = 0
    for graph in graphs:
        nodes += len(graph.node)
        if nodes > max_nodes:
            raise InvalidModel(
                f"the ONNX model has more than {max_nodes:,} nodes (AIMS_MAX_GRAPH_NODES); "
                "that is not a model this hub runs"
            )
        for node in graph.node:
            if node.domain not in KNOWN_DOMAINS and not any(f.domain == node.domain for f in model.functions):
                raise InvalidModel(
                    f"the ONNX model uses operators of the domain {node.domain[:60]!r}, which "
                    "onnxruntime does not ship (custom operators are not run here)"
                )
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data):
                raise InvalidModel(
                    "the ONNX model keeps tensors in external files; upload one self-contained "
                    "file (onnx.save(model, path, save_as_external_data=False))"
                )


def check_model_bytes(data: bytes, *, max_nodes: int) -> None:
    """:func:`check_graph` on ONNX bytes (parsed without the ONNX checker, which would read
    external data files; refused bytes raise :class:`InvalidModel`)."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # protobuf raises DecodeError and others for garbage bytes
        raise InvalidModel("the model file is not an ONNX model (it does not parse)") from None
    check_graph(model, max_nodes=max_nodes)
