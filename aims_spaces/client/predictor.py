"""A submitted model run on the participant's machine with onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core.media import frame_for
from ..core.onnx_model import OnnxModel
from ..core.tabular import to_frame
from ..domain import InputType, PlaygroundInfo
from ..errors import InvalidModel


class OnnxPredictor:
    """A submitted model run locally with onnxruntime; ``predict`` returns the playground's labels."""

    def __init__(self, onnx_bytes: bytes, info: PlaygroundInfo, preprocessor: Any = None) -> None:
        self.onnx_bytes = onnx_bytes
        self.info = info
        self.model_ = OnnxModel(onnx_bytes, info.signature, preprocessor=preprocessor).load()

    def _frame(self, X: Any) -> pd.DataFrame:
        if self.info.input_type is not InputType.TABULAR:
            return frame_for(self.info.input_type, paths=True)(X, "X").set_axis(
                [self.info.feature_schema[0].name], axis=1
            )
        df = to_frame(X, "X")
        if not isinstance(X, pd.DataFrame) and df.shape[1] == len(self.info.feature_schema):
            df.columns = [c.name for c in self.info.feature_schema]
        return df

    def predict(self, X: Any) -> np.ndarray:
        out = self.model_.run(self._frame(X))
        if out.values is not None:
            return out.values
        return np.array(self.model_.index_.decode(out.indices), dtype=object)  # type: ignore[arg-type]

    def predict_proba(self, X: Any) -> np.ndarray:
        out = self.model_.run(self._frame(X))
        if out.probabilities is None:
            raise InvalidModel("this model gives no class probabilities")
        return out.probabilities

    @property
    def classes_(self) -> np.ndarray:
        return np.array(self.info.classes or [], dtype=object)

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.onnx_bytes)


__all__ = ["OnnxPredictor"]
