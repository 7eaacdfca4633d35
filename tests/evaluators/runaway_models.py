"""Classifiers that never finish: a real converted model with extra work whose result is
multiplied by zero and added to its probabilities, so it passes every upload check and fits its
playground, but a run takes for ever (or far too long).

The extra work depends on the model's input, so onnxruntime cannot fold it away while loading.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# ~10^12 loop iterations: days of work. onnxruntime checks its stop flag between iterations.
FOR_EVER = 10**12


def _wrap(onnx_bytes: bytes, make_extra: Callable[[onnx.GraphProto, int, type], None]) -> bytes:
    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    proba = next(o for o in graph.output if len(o.type.tensor_type.shape.dim) == 2)
    dtype = proba.type.tensor_type.elem_type
    np_dtype = np.float64 if dtype == TensorProto.DOUBLE else np.float32
    for node in graph.node:
        node.output[:] = ["raw" if name == proba.name else name for name in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array(0, dtype=np_dtype), "zero"))
    graph.node.extend(
        [
            helper.make_node("ReduceSum", [graph.input[0].name], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nought"]),  # 0, but only known at run time
        ]
    )
    make_extra(graph, dtype, np_dtype)  # reads "nought", writes "extra"
    graph.node.extend(
        [
            helper.make_node("Mul", ["extra", "zero"], ["nothing"]),
            helper.make_node("Add", ["raw", "nothing"], [proba.name]),
        ]
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def loop_for_ever(onnx_bytes: bytes, trips: int = FOR_EVER) -> bytes:
    """The classifier plus an ONNX ``Loop`` of ``trips`` iterations adding one each time."""

    def extra(graph: onnx.GraphProto, dtype: int, np_dtype: type) -> None:
        body = helper.make_graph(
            [
                helper.make_node("Add", ["acc", "one"], ["acc_out"]),
                helper.make_node("Identity", ["cond"], ["cond_out"]),
            ],
            "count",
            [
                helper.make_tensor_value_info("i", TensorProto.INT64, []),
                helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc", dtype, []),
            ],
            [
                helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
                helper.make_tensor_value_info("acc_out", dtype, []),
            ],
            initializer=[numpy_helper.from_array(np.array(1, dtype=np_dtype), "one")],
        )
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(trips, dtype=np.int64), "trips"),
                numpy_helper.from_array(np.array(True), "true"),
            ]
        )
        graph.node.append(helper.make_node("Loop", ["trips", "true", "nought"], ["extra"], body=body))

    return _wrap(onnx_bytes, extra)


def one_long_operator(onnx_bytes: bytes, n: int = 3000) -> bytes:
    """The classifier plus one product of two ``n`` x ``n`` matrices: a single operator, which
    onnxruntime cannot stop halfway (n^3 multiply-adds, seconds for thousands; each matrix
    takes 4 n^2 bytes)."""

    def extra(graph: onnx.GraphProto, dtype: int, np_dtype: type) -> None:
        graph.initializer.append(numpy_helper.from_array(np.array([n, n], dtype=np.int64), "shape"))
        graph.node.extend(
            [
                helper.make_node("Expand", ["nought", "shape"], ["big"]),
                helper.make_node("MatMul", ["big", "big"], ["product"]),
                helper.make_node("ReduceSum", ["product"], ["extra"], keepdims=0),
            ]
        )

    return _wrap(onnx_bytes, extra)
