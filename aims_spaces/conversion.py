"""Client-side model conversion to ONNX and metadata extraction.

scikit-learn estimators and whole Pipelines (ColumnTransformer with numeric and string columns
included) go through skl2onnx with input types taken from the playground's feature schema;
ONNX models (bytes, a path or a ``ModelProto``) pass through. Conversion is checked against the
original on sample rows: when both float64 and float32 inputs convert, the one whose outputs
match the original best is kept (scikit-learn trees compare in float32, linear models in
float64).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .domain import Column, ColumnType, InputType, TaskType
from .errors import InvalidModel
from .onnx_model import META_CLASSES, META_COLUMNS, META_FRAMEWORK, OnnxModel, parse_onnx
from .tabular import _scalar

log = logging.getLogger(__name__)

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass
class ConvertedModel:
    onnx: bytes
    framework: str
    model_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    original: bytes | None = None  # skops file of a scikit-learn original


def convert(
    model: Any,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None = None,
    input_type: InputType = InputType.TABULAR,
    preprocessor: Any = None,
    optimizer: Any = None,
    loss: Any = None,
) -> ConvertedModel:
    """Turn ``model`` into ONNX for a playground with this schema, task and class list.

    A network's outputs must follow the playground's class order (``info.classes``); a
    ``preprocessor`` (see :mod:`aims_spaces.preprocess`) makes its inputs from raw values.
    """
    onnx_bytes = _as_onnx_bytes(model)
    if onnx_bytes is not None:
        parse_onnx(onnx_bytes)
        return ConvertedModel(onnx=onnx_bytes, framework="onnx", model_type="onnx")
    from .keras_conversion import is_keras_model
    from .torch_conversion import is_torch_module

    if is_keras_model(model):
        return _convert_keras(
            model,
            schema=schema,
            task_type=task_type,
            classes=classes,
            sample=sample,
            preprocessor=preprocessor,
        )
    if is_torch_module(model):
        return _convert_torch(
            model,
            schema=schema,
            task_type=task_type,
            classes=classes,
            sample=sample,
            preprocessor=preprocessor,
            optimizer=optimizer,
            loss=loss,
        )
    if _is_sklearn(model) and preprocessor is not None:
        return _convert_sklearn_preprocessed(
            model,
            schema=schema,
            task_type=task_type,
            classes=classes,
            sample=sample,
            preprocessor=preprocessor,
        )
    if _is_sklearn(model):
        return _convert_sklearn(
            model,
            schema=schema,
            task_type=task_type,
            classes=classes,
            sample=sample,
            text=input_type is InputType.TEXT,
        )
    raise InvalidModel(
        f"cannot convert a {type(model).__module__}.{type(model).__name__}: pass a fitted "
        "scikit-learn estimator or Pipeline, a PyTorch module, or an ONNX model (bytes, a .onnx path or a "
        "ModelProto)"
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


def _network_feeds(
    kind: str, sample: pd.DataFrame | None, schema: list[Column], preprocessor: Any
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Sample rows and the input tensors a network gets for them: the preprocessor's, or one
    float32 matrix ``X`` of the numeric columns."""
    if sample is None or sample.empty:
        raise InvalidModel(f"converting a {kind} needs sample rows (the playground's eval features)")
    rows = sample.head(8)
    if preprocessor is not None:
        return rows, preprocessor.feeds(rows[schema[0].name])
    if any(not c.dtype.numeric for c in schema):
        raise InvalidModel(f"a {kind} on string columns needs a preprocessor")
    return rows, {"X": rows[[c.name for c in schema]].to_numpy(dtype=np.float32)}


def _tagged(onnx_bytes: bytes, framework: str) -> bytes:
    import onnx

    onx = onnx.load_model_from_string(onnx_bytes)
    onnx.helper.set_model_props(onx, {META_FRAMEWORK: framework})
    return onx.SerializeToString()


def _check_network_parity(
    kind: str,
    onnx_bytes: bytes,
    rows: pd.DataFrame,
    expected: np.ndarray,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    preprocessor: Any,
) -> None:
    """Run the exported graph the way the hub will and compare it with the network's own output
    on the same rows; a classifier must give one score per playground class."""
    if task_type is TaskType.CLASSIFICATION and (
        expected.ndim != 2 or expected.shape[1] != len(classes or [])
    ):
        raise InvalidModel(
            f"the {kind}'s output has shape {list(expected.shape)}; a classifier here must give "
            f"[batch, {len(classes or [])}] scores, one per class in the order {classes}"
        )
    model = OnnxModel(
        onnx_bytes, schema=schema, task_type=task_type, classes=classes, preprocessor=preprocessor
    )
    out = model.load().run(rows)
    if task_type is TaskType.CLASSIFICATION:
        mismatches = int(np.sum(out.indices != expected.argmax(axis=1)))
    else:
        mismatches = int(np.sum(~np.isclose(out.values, expected.reshape(-1), rtol=1e-4, atol=1e-5)))
    if mismatches:
        log.warning("the ONNX export disagrees with the %s on %d sample row(s)", kind, mismatches)


def _convert_torch(
    module: Any,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None,
    preprocessor: Any,
    optimizer: Any,
    loss: Any,
) -> ConvertedModel:
    from .torch_conversion import export_onnx, run_module, safetensors_bytes, torch_metadata

    rows, feeds = _network_feeds("PyTorch module", sample, schema, preprocessor)
    framework = "transformers" if type(module).__module__.startswith("transformers") else "pytorch"
    onnx_bytes = _tagged(export_onnx(module, feeds), framework)
    _check_network_parity(
        "module",
        onnx_bytes,
        rows,
        run_module(module, feeds),
        schema=schema,
        task_type=task_type,
        classes=classes,
        preprocessor=preprocessor,
    )
    return ConvertedModel(
        onnx=onnx_bytes,
        framework=framework,
        model_type=type(module).__name__,
        metadata=torch_metadata(module, feeds, optimizer, loss),
        original=safetensors_bytes(module),
    )


def _convert_keras(
    model: Any,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None,
    preprocessor: Any,
) -> ConvertedModel:
    from .keras_conversion import export_onnx, keras_metadata, run_model, weights_bytes

    rows, feeds = _network_feeds("Keras model", sample, schema, preprocessor)
    if len(feeds) != 1:
        raise InvalidModel("a Keras model takes one input here; this preprocessor makes several")
    ((name, x),) = feeds.items()
    expected = run_model(model, x)  # also builds a model that was never called, which export needs
    onnx_bytes = _tagged(export_onnx(model, name), "keras")
    _check_network_parity(
        "Keras model",
        onnx_bytes,
        rows,
        expected,
        schema=schema,
        task_type=task_type,
        classes=classes,
        preprocessor=preprocessor,
    )
    return ConvertedModel(
        onnx=onnx_bytes,
        framework="keras",
        model_type=type(model).__name__,
        metadata=keras_metadata(model),
        original=weights_bytes(model),
    )


def _convert_sklearn_preprocessed(
    model: Any,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None,
    preprocessor: Any,
) -> ConvertedModel:
    """A scikit-learn model on what a preprocessor makes (e.g. image pixels, ``layout="flat"``)."""
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if sample is None or sample.empty:
        raise InvalidModel("converting a model with a preprocessor needs sample rows (the eval features)")
    rows = sample.head(64)
    feeds = preprocessor.feeds(rows[schema[0].name])
    if len(feeds) != 1:
        raise InvalidModel("a scikit-learn model takes one input; this preprocessor makes several")
    ((name, x),) = feeds.items()
    if x.ndim != 2:
        raise InvalidModel(
            f"a scikit-learn model takes a 2-D input; the preprocessor makes shape {list(x.shape)} "
            "(use layout='flat')"
        )
    final = _final_estimator(model)
    tensor = DoubleTensorType if x.dtype == np.float64 else FloatTensorType
    options = {id(final): {"zipmap": False}} if hasattr(final, "classes_") else None
    try:
        onx = to_onnx(
            model,
            initial_types=[(name, tensor([None, x.shape[1]]))],
            options=options,
            target_opset=TARGET_OPSET,
        )
    except Exception as e:  # skl2onnx raises many kinds for unsupported models/options
        raise InvalidModel(f"skl2onnx could not convert the {type(model).__name__}: {e}") from None
    props = {META_FRAMEWORK: "sklearn"}
    if hasattr(final, "classes_"):
        props[META_CLASSES] = json.dumps([_scalar(c) for c in final.classes_])
    onnx.helper.set_model_props(onx, props)
    onnx_bytes = onx.SerializeToString()
    try:
        loaded = OnnxModel(
            onnx_bytes, schema=schema, task_type=task_type, classes=classes, preprocessor=preprocessor
        ).load()
    except InvalidModel as e:
        hint = ""
        if x.dtype == np.float64:
            hint = " (onnxruntime's tree ensembles take float32: set dtype='float32' in the spec)"
        raise InvalidModel(f"{e.message}{hint}") from None
    out = loaded.run(rows)
    expected = model.predict(x)
    if task_type is TaskType.CLASSIFICATION:
        got = loaded.index_.decode(out.indices)  # type: ignore[arg-type]
        mismatches = sum(_scalar(a) != _scalar(b) for a, b in zip(got, expected, strict=True))
    else:
        mismatches = int(np.sum(~np.isclose(out.values, expected, rtol=1e-4, atol=1e-6)))
    if mismatches:
        log.warning("the ONNX model disagrees with the original on %d sample row(s)", mismatches)
    return ConvertedModel(
        onnx=onnx_bytes,
        framework="sklearn",
        model_type=type(final).__name__,
        metadata=sklearn_metadata(model),
        original=_skops_bytes(model),
    )


def _is_sklearn(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def _contains_column_transformer(model: Any) -> bool:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(model, ColumnTransformer):
        return True
    if isinstance(model, Pipeline):
        return any(_contains_column_transformer(step) for _, step in model.steps)
    return False


def _final_estimator(model: Any) -> Any:
    from sklearn.pipeline import Pipeline

    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _convert_sklearn(
    model: Any,
    *,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None,
    text: bool = False,
) -> ConvertedModel:
    from sklearn.base import is_classifier, is_regressor
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise InvalidModel(f"the {type(model).__name__} is not fitted; call fit() first") from None
    if task_type is TaskType.CLASSIFICATION and not is_classifier(model):
        raise InvalidModel(
            f"{type(model).__name__} is not a classifier, but this playground is classification"
        )
    if task_type is TaskType.REGRESSION and not is_regressor(model):
        raise InvalidModel(f"{type(model).__name__} is not a regressor, but this playground is regression")
    if not schema:
        raise InvalidModel(
            "this playground has no feature schema, so a model cannot be converted; submit predictions"
        )

    per_column = _contains_column_transformer(model) or any(c.dtype is ColumnType.STRING for c in schema)
    final = _final_estimator(model)
    model_classes = [_scalar(c) for c in getattr(final, "classes_", [])] or None

    attempts: list[tuple[int, bytes]] = []
    errors: list[str] = []
    for precision in ("double", "float"):
        try:
            onx = _to_onnx(model, final, schema, per_column, precision, model_classes)
        except Exception as e:  # skl2onnx raises many kinds for unsupported models/options
            errors.append(f"{precision}: {e}")
            continue
        try:
            mismatches = _parity(model, onx, schema, task_type, classes, sample, text)
        except InvalidModel as e:  # converted, but onnxruntime cannot run it in this precision
            errors.append(f"{precision}: {e}")
            continue
        attempts.append((mismatches, onx))
        if mismatches == 0:
            break
    if not attempts:
        raise InvalidModel(f"skl2onnx could not convert the {type(model).__name__}: {errors[-1]}")
    mismatches, onnx_bytes = min(attempts, key=lambda a: a[0])
    if mismatches:
        log.warning("the ONNX model disagrees with the original on %d sample row(s)", mismatches)

    return ConvertedModel(
        onnx=onnx_bytes,
        framework="sklearn",
        model_type=type(final).__name__,
        metadata=sklearn_metadata(model),
        original=_skops_bytes(model),
    )


def _to_onnx(
    model: Any,
    final: Any,
    schema: list[Column],
    per_column: bool,
    precision: str,
    model_classes: list[Any] | None,
) -> bytes:
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    numeric = DoubleTensorType if precision == "double" else FloatTensorType
    if per_column:
        initial_types = [
            (c.name, StringTensorType([None, 1]) if c.dtype is ColumnType.STRING else numeric([None, 1]))
            for c in schema
        ]
    else:
        initial_types = [("X", numeric([None, len(schema)]))]
    options: dict[int, dict[str, Any]] = {}
    if hasattr(final, "classes_"):
        options[id(final)] = {"zipmap": False}
    for step in _steps(model):
        if type(step).__name__ in ("TfidfVectorizer", "CountVectorizer"):
            # onnxruntime's StringNormalizer wants a locale the system has; C.UTF-8 always is.
            options[id(step)] = {"locale": "C.UTF-8"}
    onx = to_onnx(model, initial_types=initial_types, options=options or None, target_opset=TARGET_OPSET)
    props = {META_FRAMEWORK: "sklearn"}
    if per_column:
        # skl2onnx renames inputs whose column names hold characters such as spaces; the inputs
        # keep the order of initial_types, so record which column each one takes.
        names = [i.name for i in onx.graph.input]
        props[META_COLUMNS] = json.dumps(dict(zip(names, [c.name for c in schema], strict=True)))
    if model_classes is not None:
        props[META_CLASSES] = json.dumps(model_classes)
    onnx.helper.set_model_props(onx, props)
    return onx.SerializeToString()


def _parity(
    model: Any,
    onnx_bytes: bytes,
    schema: list[Column],
    task_type: TaskType,
    classes: list[Any] | None,
    sample: pd.DataFrame | None,
    text: bool = False,
) -> int:
    """Rows of ``sample`` where the ONNX model disagrees with the original (0 without a sample)."""
    onnx_model = OnnxModel(onnx_bytes, schema=schema, task_type=task_type, classes=classes).load()
    if sample is None or sample.empty:
        return 0
    out = onnx_model.run(sample)
    frame = sample[[c.name for c in schema]]
    expected = _call(model, "predict", frame, text)
    if task_type is TaskType.CLASSIFICATION:
        got = onnx_model.index_.decode(out.indices)  # type: ignore[arg-type]
        differs = np.array([_scalar(a) != _scalar(b) for a, b in zip(got, expected, strict=True)])
        if out.probabilities is not None and hasattr(model, "predict_proba"):
            proba = np.asarray(_call(model, "predict_proba", frame, text), dtype=np.float64)
            cols = onnx_model.proba_columns_
            if proba.shape == (len(frame), len(cols)):
                differs |= np.abs(out.probabilities[:, cols] - proba).max(axis=1) > 1e-5
        return int(differs.sum())
    return int(np.sum(~np.isclose(out.values, np.asarray(expected, dtype=np.float64), rtol=1e-4, atol=1e-6)))


def _call(model: Any, method: str, frame: pd.DataFrame, text: bool) -> Any:
    """``model.<method>`` on sample rows in the form it was fitted on: texts as a 1-D sequence,
    tables as a DataFrame (or a plain matrix for models fitted on arrays)."""
    fn = getattr(model, method)
    if text:
        return fn(frame.iloc[:, 0].tolist())
    try:
        return fn(frame)
    except Exception:  # fitted on a numpy array: try the plain matrix
        return fn(frame.to_numpy())


def _steps(model: Any) -> list[Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    if isinstance(model, Pipeline):
        return [s for _, step in model.steps for s in _steps(step)]
    if isinstance(model, ColumnTransformer):
        fitted = getattr(model, "transformers_", model.transformers)
        return [model, *[s for _, t, _ in fitted if hasattr(t, "fit") for s in _steps(t)]]
    if isinstance(model, FeatureUnion):
        return [model, *[s for _, t in model.transformer_list for s in _steps(t)]]
    return [model]


def _skops_bytes(model: Any) -> bytes | None:
    try:
        import skops.io

        return skops.io.dumps(model)
    except Exception as e:  # some third-party estimators cannot be saved; the ONNX model still goes up
        log.warning("could not save the original model with skops: %s", e)
        return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)) or value is None:
        if isinstance(value, float) and not np.isfinite(value):
            return str(value)
        return value
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, type):
        return value.__name__
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)[:200]


def sklearn_metadata(model: Any) -> dict[str, Any]:
    """Estimator type, the steps of a pipeline and ``get_params()`` of every step."""
    import sklearn
    from sklearn.base import BaseEstimator, is_classifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion, Pipeline

    params: dict[str, dict[str, Any]] = {}
    steps: list[str] = []

    def walk(obj: Any, path: str) -> None:
        steps.append(f"{path}:{type(obj).__name__}" if path else type(obj).__name__)
        children: list[tuple[str, Any]] = []
        if isinstance(obj, Pipeline):
            children = [(n, s) for n, s in obj.steps]
        elif isinstance(obj, ColumnTransformer):
            fitted = getattr(obj, "transformers_", obj.transformers)
            children = [(n, t) for n, t, _cols in fitted if isinstance(t, BaseEstimator)]
        elif isinstance(obj, FeatureUnion):
            children = list(obj.transformer_list)
        own = {}
        for key, value in obj.get_params(deep=False).items():
            if isinstance(value, BaseEstimator) or key in ("steps", "transformers", "transformer_list"):
                continue
            own[key] = _jsonable(value)
        params[path or type(obj).__name__] = own
        for name, child in children:
            if isinstance(child, BaseEstimator):
                walk(child, f"{path}.{name}" if path else name)

    walk(model, "")
    final = _final_estimator(model)
    return {
        "estimator": type(final).__name__,
        "estimator_type": "classifier" if is_classifier(final) else "regressor",
        "steps": steps,
        "params": params,
        "n_features_in": int(getattr(model, "n_features_in_", 0)) or None,
        "library_version": f"scikit-learn {sklearn.__version__}",
    }
