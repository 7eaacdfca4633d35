"""Encoded media (images, and later sound and video) at the boundaries: what clients send, how
the hub checks and decodes it. Maintained decoders only (Pillow); nothing is executed."""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from .domain import ColumnType, InputType
from .errors import InvalidInput
from .tabular import text_frame, to_frame

MAX_PIXELS = 64_000_000


def encode_image(value: Any, what: str = "image") -> bytes:
    """PNG bytes of a PIL image, an array (H, W[, C]; uint8, or floats in [0, 1]), a path or
    already-encoded bytes."""
    if isinstance(value, (bytes, bytearray)):
        decode_image(bytes(value), what=what)
        return bytes(value)
    if isinstance(value, (str, Path)):
        return encode_image(Path(value).read_bytes(), what)
    if isinstance(value, Image.Image):
        img = value
    else:
        arr = np.asarray(value)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise InvalidInput(
                f"{what}: expected an image array (H, W) or (H, W, 1|3|4), got shape {arr.shape}"
            )
        if arr.dtype.kind == "f":
            arr = np.clip(arr * 255.0, 0, 255)
        arr = arr.astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        img = Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def decode_image(value: Any, what: str = "image") -> Image.Image:
    """A PIL image from encoded bytes (or a PIL image / array, passed through)."""
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray) and value.dtype != object:
        return Image.open(io.BytesIO(encode_image(value, what)))
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded image, got {type(value).__name__}")
    try:
        img = Image.open(io.BytesIO(value))
        if img.width * img.height > MAX_PIXELS:
            raise InvalidInput(f"{what}: the image is too large ({img.width}×{img.height})")
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise InvalidInput(f"{what} is not an image Pillow can read ({e.__class__.__name__})") from None
    return img


def from_base64(value: Any, what: str) -> bytes:
    """Bytes from base64 text, with or without a ``data:<type>;base64,`` prefix."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: expected base64 text, got {type(value).__name__}")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: not valid base64") from None


def media_frame(
    data: Any, kind: ColumnType, what: str, error: type[InvalidInput] = InvalidInput
) -> pd.DataFrame:
    """Media as a one-column table of encoded bytes (column named for the kind)."""
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise error(f"{what} of an {kind.value} playground must be one column, got {data.shape[1]}")
        name, values = str(data.columns[0]), data.iloc[:, 0].tolist()
    else:
        name, values = kind.value, list(data)
    if not values:
        raise error(f"{what} is empty")
    encode = {ColumnType.IMAGE: encode_image}[kind]
    encoded = []
    for i, v in enumerate(values):
        try:
            encoded.append(encode(v, f"{what} row {i}"))
        except InvalidInput as e:
            raise error(e.message) from None
    return pd.DataFrame({name: pd.Series(encoded, dtype=object)})


MEDIA_COLUMNS = {InputType.IMAGE: ColumnType.IMAGE}


def frame_for(input_type: InputType) -> Callable[..., pd.DataFrame]:
    """How inputs of a playground's type (eval features, example data, rows to predict) become a
    table: columns as given (tabular), one ``text`` column, or one column of encoded media."""
    if input_type is InputType.TEXT:
        return text_frame
    if input_type in MEDIA_COLUMNS:
        kind = MEDIA_COLUMNS[input_type]

        def frame(data: Any, what: str, error: type[InvalidInput] = InvalidInput) -> pd.DataFrame:
            return media_frame(data, kind, what, error)

        return frame
    return to_frame
