"""scikit-learn estimators and Pipelines to ONNX, their metadata, and their originals as skops.

Estimators and whole Pipelines (ColumnTransformer with numeric and string columns included) go
through skl2onnx with input types taken from the playground's feature schema. Conversion is
checked against the original on sample rows: when both float64 and float32 inputs convert, the
one whose outputs match the original best is kept (scikit-learn trees compare in float32, linear
models in float64). The original goes up as a skops file, which the hub audits without loading.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from ...core.onnx_model import META_CLASSES, META_COLUMNS, META_FRAMEWORK, OnnxModel
from ...core.skops_audit import check_skops, trusted_types
from ...core.tabular import _scalar
from ...domain import Column, ColumnType, InputType, Signature
from ...errors import InvalidModel
from . import ConvertedModel

log = logging.getLogger(__name__)

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def is_sklearn_model(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return False
    return isinstance(model, BaseEstimator)


def convert(
    model: Any, signature: Signature, *, sample: pd.DataFrame | None = None, preprocessor: Any = None
) -> ConvertedModel:
    """A fitted estimator or Pipeline as ONNX; with a ``preprocessor``, the model takes what it
    makes (e.g. image pixels with ``layout="flat"``)."""
    if preprocessor is not None:
        return _convert_preprocessed(model, signature, sample=sample, preprocessor=preprocessor)
    return _convert_plain(model, signature, sample=sample)


def _convert_preprocessed(
    model: Any, signature: Signature, *, sample: pd.DataFrame | None, preprocessor: Any
) -> ConvertedModel:
    """A scikit-learn model on what a preprocessor makes (e.g. image pixels, ``layout="flat"``)."""
    import onnx
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if sample is None or sample.empty:
        raise InvalidModel("converting a model with a preprocessor needs sample rows (the eval features)")
    rows = sample.head(64)
    feeds = preprocessor.feeds(rows[signature.feature_schema[0].name])
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
        loaded = OnnxModel(onnx_bytes, signature, preprocessor=preprocessor).load()
    except InvalidModel as e:
        hint = ""
        if x.dtype == np.float64:
            hint = " (onnxruntime's tree ensembles take float32: set dtype='float32' in the spec)"
        raise InvalidModel(f"{e.message}{hint}") from None
    out = loaded.run(rows)
    expected = model.predict(x)
    if signature.classification:
        got = loaded.index_.decode(out.indices)  # type: ignore[arg-type]
        mismatches = sum(_scalar(a) != _scalar(b) for a, b in zip(got, expected, strict=True))
    else:
        assert out.values is not None  # a regressor's output
        mismatches = int(np.sum(~np.isclose(out.values, expected, rtol=1e-4, atol=1e-6)))
    if mismatches:
        log.warning("the ONNX model disagrees with the original on %d sample row(s)", mismatches)
    return ConvertedModel(
        onnx=onnx_bytes,
        framework="sklearn",
        model_type=type(final).__name__,
        metadata=sklearn_metadata(model),
        original=skops_bytes(model),
    )


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


def _convert_plain(model: Any, signature: Signature, *, sample: pd.DataFrame | None) -> ConvertedModel:
    from sklearn.base import is_classifier, is_regressor
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise InvalidModel(f"the {type(model).__name__} is not fitted; call fit() first") from None
    schema = signature.feature_schema
    if signature.classification and not is_classifier(model):
        raise InvalidModel(
            f"{type(model).__name__} is not a classifier, but this playground is classification"
        )
    if not signature.classification and not is_regressor(model):
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
            mismatches = _parity(model, onx, signature, sample)
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
        original=skops_bytes(model),
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


def _parity(model: Any, onnx_bytes: bytes, signature: Signature, sample: pd.DataFrame | None) -> int:
    """Rows of ``sample`` where the ONNX model disagrees with the original (0 without a sample)."""
    onnx_model = OnnxModel(onnx_bytes, signature).load()
    if sample is None or sample.empty:
        return 0
    out = onnx_model.run(sample)
    frame = sample[signature.column_names]
    text = signature.input_type is InputType.TEXT
    expected = _call(model, "predict", frame, text)
    if signature.classification:
        got = onnx_model.index_.decode(out.indices)  # type: ignore[arg-type]
        differs = np.array([_scalar(a) != _scalar(b) for a, b in zip(got, expected, strict=True)])
        if out.probabilities is not None and hasattr(model, "predict_proba"):
            proba = np.asarray(_call(model, "predict_proba", frame, text), dtype=np.float64)
            cols = onnx_model.proba_columns_
            if proba.shape == (len(frame), len(cols)):
                differs |= np.abs(out.probabilities[:, cols] - proba).max(axis=1) > 1e-5
        return int(differs.sum())
    assert out.values is not None  # a regressor's output
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


def skops_bytes(model: Any) -> bytes | None:
    """The original as a skops file (a zip of JSON; never a pickle), or None if skops cannot
    save it."""
    try:
        import skops.io

        data = skops.io.dumps(model)
    except Exception as e:  # some third-party estimators cannot be saved; the ONNX model still goes up
        log.warning("could not save the original model with skops: %s", e)
        return None
    try:
        check_skops(data)  # the hub's audit: a refused original would refuse the whole submission
    except InvalidModel as e:
        log.warning(
            "the original is not uploaded (its skops file holds what the hub does not accept: %s); "
            "the ONNX model goes up alone",
            e.message,
        )
        return None
    return data


def load_skops(data: bytes) -> Any:
    """Rebuild a scikit-learn original from its skops file, on the participant's machine (the hub
    only audits these files and never loads one).

    The file is audited again here (another participant made it): skops may build exactly the
    allow-listed types this file holds, nothing it reports on its own.

    Raises:
        InvalidModel: the audit refuses the file, or scikit-learn refuses its content.
    """
    import skops.io

    trusted = trusted_types(data)
    try:
        return skops.io.loads(data, trusted=trusted)
    except Exception as e:  # skops and scikit-learn raise many kinds for content they refuse
        raise InvalidModel(f"the original model could not be rebuilt: {type(e).__name__}: {e}") from None


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
