"""ONNX models: parse and check one, read its graph metadata, feed it a DataFrame and turn its
outputs into labels, probabilities or numbers.

The same :class:`OnnxModel` runs in the client's parity checks and ``instantiate_model``, in the
hub's upload checks, in evaluators and in the model server. It follows scikit-learn's habit:
``__init__`` stores configuration, :meth:`OnnxModel.load` builds the onnxruntime session,
loaded state ends in ``_``.

A model someone else wrote may run for ever (an ONNX ``Loop`` with a huge trip count, a graph
that constant-folds for minutes). :meth:`OnnxModel.load` and :meth:`OnnxModel.run` take a
:class:`Deadline`: one watchdog thread per process stops the onnxruntime work that passes its
deadline (``RunOptions.terminate`` for a run, the load cancellation flag for a load), and the
call raises the deadline's error. onnxruntime checks the flag between nodes and between the
iterations of ``Loop`` and ``Scan``, so a run stops within about :data:`WATCH_INTERVAL_S` of
its deadline unless one operator alone runs longer; a load stops between optimisation passes.
Calls without a deadline cost nothing extra; with one, about a microsecond.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..domain import Column, ColumnType, Signature, TaskType
from ..errors import AimsError, InvalidModel, InvalidPredictions
from .tabular import ClassIndex

META_COLUMNS = "aims.columns"  # JSON {input name: column name}
META_CLASSES = "aims.classes"  # JSON list: the class order of the probability output
META_FRAMEWORK = "aims.framework"

_ORT_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


def parse_onnx(data: bytes) -> Any:
    """Parse and check ONNX bytes; raise :class:`InvalidModel` naming what is wrong."""
    import onnx

    if not data:
        raise InvalidModel("the model file is empty")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises DecodeError and others for garbage bytes
        raise InvalidModel("the model file is not an ONNX model (it does not parse)") from e
    if not model.graph.node and not model.graph.output:
        raise InvalidModel("the model file is not an ONNX model (no graph inside)")
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # onnx.checker.ValidationError and friends
        # The checker's first line names the node or field at fault; its context lines and
        # any path stay out of the message.
        raise InvalidModel(f"the ONNX model is invalid: {_plain(e)}") from e
    return model


def read_metadata_props(model: Any) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def graph_metadata(model: Any, size_bytes: int) -> dict[str, Any]:
    """Operator counts, parameter count, opsets, inputs and outputs of an ONNX graph."""
    import onnx

    ops = Counter(node.op_type for node in model.graph.node)
    params = 0
    for init in model.graph.initializer:
        params += int(np.prod(init.dims)) if init.dims else 1
    tree_nodes = 0
    for node in model.graph.node:
        if node.op_type.startswith("TreeEnsemble"):
            for attr in node.attribute:
                if attr.name in ("nodes_nodeids", "nodes_featureids"):
                    tree_nodes += len(attr.ints)
                    break

    def describe(values: Sequence[Any]) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type
            if t.HasField("tensor_type"):
                elem = onnx.TensorProto.DataType.Name(t.tensor_type.elem_type).lower()
                dims = [
                    d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
                    for d in t.tensor_type.shape.dim
                ]
                out.append({"name": v.name, "type": f"tensor({elem})", "shape": dims})
            else:
                out.append({"name": v.name, "type": str(t.WhichOneof("value")), "shape": None})
        return out

    return {
        "size_bytes": int(size_bytes),
        "ir_version": int(model.ir_version),
        "opset": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "n_nodes": len(model.graph.node),
        "operators": dict(sorted(ops.items())),
        "parameters": params,
        "tree_nodes": tree_nodes,
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
    }


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


@dataclass(frozen=True)
class _Feed:
    input_name: str
    columns: tuple[str, ...]
    dtype: Any
    rank: int


def plan_feeds(
    inputs: Sequence[Any], schema: Sequence[Column], column_map: dict[str, str] | None = None
) -> list[_Feed]:
    """Decide how a DataFrame with ``schema`` feeds the model's inputs, or say why it cannot.

    Two layouts are understood: one input per column (named as the column, or mapped in the
    model's ``aims.columns`` metadata), or a single numeric matrix input taking every column in
    the playground's order.
    """
    by_name = {c.name: c for c in schema}
    by_sanitized = {_sanitize(c.name): c for c in schema}
    column_map = column_map or {}

    def describe_shape(shape: Sequence[Any]) -> str:
        return "[" + ", ".join("?" if not isinstance(d, int) else str(d) for d in shape) + "]"

    matched: dict[str, Column] = {}
    for inp in inputs:
        col = by_name.get(column_map.get(inp.name, inp.name)) or by_sanitized.get(inp.name)
        if col is not None:
            matched[inp.name] = col
    if len(inputs) == 1 and len(schema) == 1 and not matched and inputs[0].type == "tensor(string)":
        # One string input and one text column: whatever the input is called, it takes the text.
        matched[inputs[0].name] = schema[0]
    if len(inputs) == 1 and not matched:
        (inp,) = inputs
        dtype = _ORT_NUMPY.get(inp.type)
        if dtype is None or dtype is np.object_:
            raise InvalidModel(
                f"the model's input {inp.name!r} has type {inp.type}; a single matrix input must be numeric"
            )
        strings = [c.name for c in schema if not c.dtype.numeric]
        if strings:
            raise InvalidModel(
                f"the model takes one numeric matrix {inp.name!r} but column(s) {strings} hold "
                "strings; convert a Pipeline whose ColumnTransformer encodes them, so each column "
                "is its own input"
            )
        shape = list(inp.shape)
        if len(shape) != 2:
            raise InvalidModel(
                f"the model's input {inp.name!r} has shape {describe_shape(shape)}; expected "
                f"[batch, {len(schema)}] for this playground's {len(schema)} feature columns"
            )
        if isinstance(shape[1], int) and shape[1] != len(schema):
            raise InvalidModel(
                f"the model's input {inp.name!r} expects {shape[1]} features per row but this "
                f"playground has {len(schema)} feature columns {[c.name for c in schema]}"
            )
        return [_Feed(inp.name, tuple(c.name for c in schema), dtype, 2)]

    unmatched = [inp.name for inp in inputs if inp.name not in matched]
    if unmatched:
        raise InvalidModel(
            f"the model's input(s) {unmatched} match no feature column of this playground "
            f"(columns: {[c.name for c in schema]})"
        )
    feeds = []
    for inp in inputs:
        col = matched[inp.name]
        dtype = _ORT_NUMPY.get(inp.type)
        if dtype is None:
            raise InvalidModel(f"the model's input {inp.name!r} has unsupported type {inp.type}")
        if (dtype is np.object_) != (col.dtype is ColumnType.STRING):
            holds = "strings" if col.dtype is ColumnType.STRING else f"{col.dtype.value} values"
            raise InvalidModel(
                f"the model's input {inp.name!r} expects {inp.type} but column {col.name!r} holds {holds}"
            )
        shape = list(inp.shape)
        if len(shape) not in (1, 2) or (len(shape) == 2 and isinstance(shape[1], int) and shape[1] != 1):
            raise InvalidModel(
                f"the model's input {inp.name!r} has shape {describe_shape(shape)}; a per-column "
                "input must be [batch] or [batch, 1]"
            )
        feeds.append(_Feed(inp.name, (col.name,), dtype, len(shape)))
    return feeds


WATCH_INTERVAL_S = 0.05  # how often the watchdog looks at the deadlines of loads and runs


class Deadline:
    """When a model's load or run must stop, and the error it raises then.

    Args:
        at: the instant, in :func:`time.monotonic` seconds.
        error: makes the exception a load or run raises once it was stopped for passing ``at``
            (called once per stopped call, so concurrent calls never share an exception).
    """

    __slots__ = ("at", "error")

    def __init__(self, at: float, error: Callable[[], Exception]) -> None:
        self.at = at
        self.error = error

    @classmethod
    def after(cls, seconds: float, error: Callable[[], Exception] | None = None) -> Deadline:
        """The deadline ``seconds`` from now; by default it raises :class:`InvalidModel`
        ("the model ran longer than N s")."""

        def ran_too_long() -> Exception:
            return InvalidModel(f"the model ran longer than {seconds:g} s")

        return cls(time.monotonic() + seconds, error or ran_too_long)

    def remaining(self) -> float:
        return self.at - time.monotonic()


class _Watchdog:
    """Stops onnxruntime work past its deadline. One daemon thread per process, started with
    the first watched call, looks every :data:`WATCH_INTERVAL_S` at what is in flight; a call
    only registers its options object and its deadline (no thread, no timer per call)."""

    def __init__(self) -> None:
        self._forget()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # A forked child has none of its parent's threads and none of its calls in flight.
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Any]] = {}
        self._thread: threading.Thread | None = None

    def watch(self, at: float, options: Any) -> None:
        """Stop ``options``' call (onnxruntime ``RunOptions`` or ``SessionOptions``) at ``at``."""
        with self._lock:
            self._watched[id(options)] = (at, options)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="aims-model-watchdog", daemon=True)
                self._thread.start()

    def unwatch(self, options: Any) -> None:
        with self._lock:
            self._watched.pop(id(options), None)

    def _loop(self) -> None:
        while True:
            time.sleep(WATCH_INTERVAL_S)
            now = time.monotonic()
            with self._lock:
                late = [options for at, options in self._watched.values() if at <= now]
            for options in late:
                if hasattr(options, "terminate"):  # RunOptions: a run in progress
                    options.terminate = True
                else:  # SessionOptions: a load in progress
                    options.set_load_cancellation_flag(True)


_WATCHDOG = _Watchdog()


# What a model runs on: a DataFrame, a mapping of column name -> 1-D array, or (all columns
# numeric) one (n, n_columns) matrix of the columns in schema order.
Inputs = pd.DataFrame | Mapping[str, Any] | np.ndarray


@dataclass(frozen=True)
class ModelOutput:
    """Predictions for a batch. ``indices`` index the playground's class list."""

    indices: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # (n, n_classes) in the playground's class order
    values: np.ndarray | None = None  # regression


class OnnxModel:
    """An ONNX model bound to a playground's :class:`~aims_spaces.domain.Signature`."""

    def __init__(
        self,
        data: bytes,
        signature: Signature,
        *,
        threads: int = 1,
        preprocessor: Any = None,
    ) -> None:
        self.data = data
        self.signature = signature
        self.schema = signature.feature_schema
        self.task_type = signature.task_type
        self.classes = list(signature.classes or [])
        self.threads = threads
        self.preprocessor = preprocessor  # an aims_spaces.core.preprocess.Preprocessor, or None

    def load(self, *, deadline: Deadline | None = None) -> OnnxModel:
        """Parse the model and build its onnxruntime session.

        Args:
            deadline: when to give up building the session (onnxruntime checks between its
                optimisation passes, so a long one finishes first).

        Raises:
            InvalidModel: the model does not parse, onnxruntime cannot load it, or it does not
                fit the signature.
        """
        import onnxruntime as ort

        model = parse_onnx(self.data)
        self.metadata_props_ = read_metadata_props(model)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        if deadline is not None:
            if deadline.remaining() <= 0:
                raise deadline.error()
            _WATCHDOG.watch(deadline.at, opts)
        try:
            self.session_ = ort.InferenceSession(
                self.data, sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
            if deadline is not None and type(e).__name__ == "ModelLoadCanceled":
                raise deadline.error() from None
            raise InvalidModel(f"onnxruntime cannot load the model: {_ort_problem(e)}") from e
        finally:
            if deadline is not None:
                _WATCHDOG.unwatch(opts)
        self.run_options_ = ort.RunOptions  # one per guarded run
        column_map = _json_prop(self.metadata_props_, META_COLUMNS, dict) or {}
        if self.preprocessor is not None:
            self._check_preprocessor()
            self.feeds_ = []
        elif any(c.dtype.media for c in self.schema):
            kind = next(c.dtype.value for c in self.schema if c.dtype.media)
            raise InvalidModel(
                f"a model for {kind} input needs a preprocessor spec saying how to turn a file into "
                "its input tensor (see aims_spaces.core.preprocess: ImageSpec, AudioSpec, VideoSpec)"
            )
        else:
            self.feeds_ = plan_feeds(self.session_.get_inputs(), self.schema, column_map)
        names = tuple(c.name for c in self.schema)
        # A model whose one input is the matrix of every column in order takes a matrix as is.
        self.matrix_feed_ = next(
            (f for f in self.feeds_ if len(self.feeds_) == 1 and f.columns == names and f.rank == 2), None
        )
        self.outputs_ = self.session_.get_outputs()
        self.output_names_ = [o.name for o in self.outputs_]
        if self.task_type is TaskType.CLASSIFICATION:
            self._plan_classification()
        else:
            self.value_output_ = self._first_output(
                ("tensor(float)", "tensor(double)", "tensor(float16)", "tensor(int64)", "tensor(int32)")
            )
            if self.value_output_ is None:
                raise InvalidModel("the regression model has no numeric output")
        return self

    def _first_output(self, types: Sequence[str], rank: int | None = None) -> str | None:
        for out in self.outputs_:
            if out.type in types and (rank is None or len(out.shape) == rank):
                return out.name
        return None

    def _plan_classification(self) -> None:
        index = ClassIndex(self.classes)
        self.index_ = index
        self.label_output_ = self._first_output(("tensor(int64)", "tensor(int32)", "tensor(string)"))
        self.proba_output_ = self._first_output(("tensor(float)", "tensor(double)"), rank=2)
        self.zipmap_output_ = next((o.name for o in self.outputs_ if o.type.startswith("seq(map")), None)
        model_classes = _json_prop(self.metadata_props_, META_CLASSES, list)
        order = model_classes if model_classes is not None else self.classes
        # column j of the model's probabilities belongs to playground class proba_columns_[j]
        try:
            self.proba_columns_ = index.encode(np.array(order, dtype=object), "the model's class list")
        except InvalidPredictions as e:
            raise InvalidModel(str(e)) from None
        self.proba_in_order_ = self.proba_columns_.tolist() == list(range(len(self.classes)))
        if self.label_output_ is None and self.proba_output_ is None and self.zipmap_output_ is None:
            raise InvalidModel(
                "the classification model has neither a label output (int or string tensor) nor "
                "a probability/score matrix output"
            )

    def _check_preprocessor(self) -> None:
        model_inputs = {i.name for i in self.session_.get_inputs()}
        given = set(self.preprocessor.input_names())
        if given != model_inputs:
            raise InvalidModel(
                f"the model's inputs {sorted(model_inputs)} do not match what its preprocessor makes "
                f"{sorted(given)}"
            )
        if len(self.schema) != 1:
            raise InvalidModel(
                f"a preprocessor takes one input column; this playground has {len(self.schema)}"
            )
        from .preprocess import check_shape

        check_shape(self.preprocessor, self.session_.get_inputs())

    def feed(self, columns: Inputs) -> dict[str, np.ndarray]:
        """Model inputs from a DataFrame, a mapping of column name -> 1-D array, or (every
        column numeric) an ``(n, n_columns)`` matrix of the columns in schema order."""
        if isinstance(columns, np.ndarray):
            if columns.ndim != 2 or columns.shape[1] != len(self.schema):
                raise InvalidPredictions(
                    f"the input matrix has shape {columns.shape}; expected (rows, {len(self.schema)})"
                )
            if self.matrix_feed_ is not None:
                f = self.matrix_feed_
                return {f.input_name: columns.astype(f.dtype, copy=False)}
            columns = {c.name: columns[:, j] for j, c in enumerate(self.schema)}
        missing = [c.name for c in self.schema if c.name not in columns]
        if missing:
            raise InvalidPredictions(f"the input is missing column(s) {missing}")
        if self.preprocessor is not None:
            return self.preprocessor.feeds(columns[self.schema[0].name])
        feeds = {}
        for f in self.feeds_:
            if len(f.columns) == 1:
                arr = _column_values(columns[f.columns[0]], f.dtype).reshape(-1, 1)
            else:  # one matrix: fill it column by column (np.column_stack costs more per call)
                first = _column_values(columns[f.columns[0]], f.dtype)
                arr = np.empty((first.shape[0], len(f.columns)), dtype=f.dtype)
                arr[:, 0] = first
                for j, c in enumerate(f.columns[1:], 1):
                    arr[:, j] = _column_values(columns[c], f.dtype)
            feeds[f.input_name] = arr if f.rank == 2 else arr.reshape(-1)
        return feeds

    def run(self, columns: Inputs, *, deadline: Deadline | None = None) -> ModelOutput:
        """Predict for a DataFrame, a mapping of column name -> 1-D array, or a matrix (see
        :meth:`feed`).

        Args:
            columns: the rows to predict.
            deadline: when to stop the model; the call then raises ``deadline.error()``.

        Raises:
            InvalidModel: the model failed to run or gave outputs that do not fit.
            InvalidPredictions: the inputs do not fit the schema.
        """
        try:
            feeds = self.feed(columns)
        except AimsError:
            raise
        except Exception as e:  # a preprocessor's tokenizer or codec failing on a value
            raise InvalidModel("the input values could not be made into the model's inputs") from e
        if deadline is None:
            try:
                raw = self.session_.run(self.output_names_, feeds)
            except Exception as e:  # onnxruntime's errors are not part of a stable hierarchy
                raise InvalidModel(f"the model failed to run: {_ort_problem(e)}") from e
        else:
            raw = self._run_until(feeds, deadline)
        outputs = dict(zip(self.output_names_, raw, strict=True))
        if isinstance(columns, np.ndarray):
            n = columns.shape[0]
        else:
            n = len(columns[self.schema[0].name]) if self.schema else len(raw[0])
        if self.task_type is TaskType.REGRESSION:
            values = np.asarray(outputs[self.value_output_], dtype=np.float64)
            if values.ndim == 2 and values.shape[1] == 1:
                values = values[:, 0]
            if values.shape != (n,):
                raise InvalidModel(f"the regression output has shape {values.shape}; expected ({n},)")
            return ModelOutput(values=values)
        proba = self._probabilities(outputs, n)
        if self.label_output_ is not None:
            labels = np.asarray(outputs[self.label_output_])
            if labels.ndim == 2 and labels.shape[1] == 1:
                labels = labels[:, 0]
            try:
                indices = self.index_.encode(labels, "the model's label output", n_rows=n)
            except InvalidPredictions as e:
                raise InvalidModel(str(e)) from None
        else:
            assert proba is not None
            indices = np.argmax(proba, axis=1)
        return ModelOutput(indices=indices, probabilities=proba)

    def _run_until(self, feeds: dict[str, np.ndarray], deadline: Deadline) -> list[Any]:
        if time.monotonic() >= deadline.at:
            raise deadline.error()
        options = self.run_options_()
        options.log_severity_level = 4  # a stopped run is expected here, not worth an error line
        _WATCHDOG.watch(deadline.at, options)
        try:
            return self.session_.run(self.output_names_, feeds, options)
        except Exception as e:  # onnxruntime's errors are not part of a stable hierarchy
            if options.terminate:
                raise deadline.error() from None
            raise InvalidModel(f"the model failed to run: {_ort_problem(e)}") from e
        finally:
            _WATCHDOG.unwatch(options)

    def _probabilities(self, outputs: dict[str, Any], n: int) -> np.ndarray | None:
        k = len(self.classes)
        if self.proba_output_ is not None:
            raw = _as_probabilities(np.asarray(outputs[self.proba_output_], dtype=np.float64))
        elif self.zipmap_output_ is not None:
            rows = outputs[self.zipmap_output_]
            keys = list(rows[0].keys()) if rows else []
            raw = np.array([[r[key] for key in keys] for r in rows], dtype=np.float64)
            try:
                cols = self.index_.encode(np.array(keys, dtype=object), "the model's class list")
            except InvalidPredictions as e:
                raise InvalidModel(str(e)) from None
            return _reorder(raw, cols, k)
        else:
            return None
        if raw.shape[0] != n or raw.shape[1] != len(self.proba_columns_):
            if self.label_output_ is not None:
                return None  # a score matrix we cannot map to classes; labels still count
            raise InvalidModel(
                f"the model's score output has shape {raw.shape}; expected ({n}, {k}) for this "
                f"playground's {k} classes"
            )
        return raw if self.proba_in_order_ else _reorder(raw, self.proba_columns_, k)


def _as_probabilities(scores: np.ndarray) -> np.ndarray:
    """A score matrix as probabilities: kept if its rows already are, softmax of logits if not."""
    if scores.ndim != 2 or scores.size == 0:
        return scores
    if scores.shape[0] <= 4:  # a request's few rows: plain Python beats numpy's per-call cost
        rows = scores.tolist()
        if all(min(r) >= -1e-6 and max(r) <= 1 + 1e-6 and abs(sum(r) - 1) <= 1e-3 for r in rows):
            return scores
    # Plain reductions: np.allclose costs ~20 µs, as much as the rest of a single-row prediction.
    elif scores.min() >= -1e-6 and scores.max() <= 1 + 1e-6 and np.abs(scores.sum(axis=1) - 1).max() <= 1e-3:
        return scores
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _column_values(values: Any, dtype: Any) -> np.ndarray:
    if dtype is np.object_:
        arr = np.asarray(values, dtype=object)
        missing = pd.isna(arr)
        if missing.any():
            arr = arr.copy()
            arr[missing] = ""
        return arr if all(isinstance(v, str) for v in arr) else arr.astype(str).astype(object)
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=np.float64, na_value=np.nan).astype(dtype, copy=False)
    return np.asarray(values).astype(dtype, copy=False)


def _reorder(raw: np.ndarray, columns: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((raw.shape[0], k), dtype=np.float64)
    out[:, columns] = raw
    return out


def _json_prop(props: dict[str, str], key: str, kind: type) -> Any:
    if key not in props:
        return None
    try:
        value = json.loads(props[key])
    except json.JSONDecodeError:
        raise InvalidModel(f"the model's metadata {key!r} is not valid JSON") from None
    if not isinstance(value, kind):
        raise InvalidModel(f"the model's metadata {key!r} must be a JSON {kind.__name__}")
    return value


def first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


# onnxruntime's exception types, in plain words. Its messages carry source file paths, line
# numbers and internal node names, so they stay in the exception's cause (and the logs) and
# never reach a participant.
_ORT_PROBLEMS = {
    "InvalidArgument": "it was given inputs of a shape or type it does not accept",
    "NotImplemented": "it uses an operator or data type this hub's onnxruntime cannot run",
    "InvalidGraph": "its graph does not fit together (an operator's inputs, types or shapes)",
    "InvalidProtobuf": "the file does not parse as an ONNX model",
    "NoModel": "the file holds no model",
    "NoSuchFile": "it refers to a file outside the model",
    "NotFound": "it refers to something onnxruntime cannot find",
    "ModelLoadCanceled": "loading it was cancelled",
}


def _ort_problem(e: Exception) -> str:
    if "alloc" in str(e).lower():  # std::bad_alloc, "Failed to allocate memory"
        return "it needed more memory than the machine could give"
    return _ORT_PROBLEMS.get(type(e).__name__, "one of its operators failed")


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-]+){2,}[\\/]?(?::\d+)?")


def _plain(e: Exception) -> str:
    """The first line of a library's error, without file paths and cut short."""
    line = first_line(e).split("==>")[0].strip()
    return _PATH.sub("<path>", line)[:200] or type(e).__name__
