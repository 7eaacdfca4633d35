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

from ..domain import ColumnType, InputType
from ..errors import InvalidInput
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


MAX_AUDIO_S = 600
MAX_VIDEO_FRAMES = 10_000


def encode_audio(value: Any, what: str = "audio") -> bytes:
    """WAV bytes of ``(samples, sample_rate)``, ``{"array": ..., "sampling_rate": ...}`` (the
    `datasets` audio form), a path, or already-encoded bytes (checked)."""
    import soundfile

    if isinstance(value, (bytes, bytearray)):
        decode_audio(bytes(value), what=what)
        return bytes(value)
    if isinstance(value, (str, Path)):
        return encode_audio(Path(value).read_bytes(), what)
    if isinstance(value, dict) and {"array", "sampling_rate"} <= set(value):
        value = (value["array"], value["sampling_rate"])
    if not (isinstance(value, tuple) and len(value) == 2):
        raise InvalidInput(f"{what}: give (samples, sample_rate), a WAV/FLAC file or its bytes")
    samples, rate = np.asarray(value[0]), int(value[1])
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise InvalidInput(f"{what}: samples must be a non-empty 1-D (or samples×channels) array")
    buf = io.BytesIO()
    soundfile.write(buf, samples.astype(np.float32), rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def decode_audio(value: Any, what: str = "audio") -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)`` of encoded sound (WAV, FLAC, OGG: what libsndfile reads)."""
    import soundfile

    if isinstance(value, tuple) and len(value) == 2:
        return np.asarray(value[0], dtype=np.float32), int(value[1])
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded sound file, got {type(value).__name__}")
    try:
        with soundfile.SoundFile(io.BytesIO(value)) as f:
            if f.frames > MAX_AUDIO_S * f.samplerate:
                raise InvalidInput(f"{what}: the sound is longer than {MAX_AUDIO_S} s")
            data = f.read(dtype="float32")
            return data, int(f.samplerate)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise InvalidInput(
            f"{what} is not a sound file libsndfile can read ({e.__class__.__name__})"
        ) from None


def encode_video(value: Any, what: str = "video", fps: int = 8) -> bytes:
    """MP4 (H.264) bytes of frames — an array (T, H, W[, C]) or a list of images — or of a path
    or already-encoded bytes (checked)."""
    import av

    if isinstance(value, (bytes, bytearray)):
        decode_video(bytes(value), what=what)
        return bytes(value)
    if isinstance(value, (str, Path)):
        return encode_video(Path(value).read_bytes(), what)
    frames = [
        np.asarray(decode_image(f, what).convert("RGB")) if isinstance(f, Image.Image) else np.asarray(f)
        for f in value
    ]
    if not frames:
        raise InvalidInput(f"{what}: no frames")
    first = frames[0]
    if first.ndim not in (2, 3):
        raise InvalidInput(f"{what}: frames must be (H, W) or (H, W, 3) arrays, got shape {first.shape}")
    h, w = first.shape[:2]
    if h % 2 or w % 2:
        raise InvalidInput(f"{what}: frame width and height must be even for H.264, got {w}×{h}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}  # lossless: decoded pixels match
        for f in frames:
            scaled = f.astype(np.float64) * 255 if f.dtype.kind == "f" else f
            arr: np.ndarray[Any, np.dtype[np.uint8]] = np.clip(scaled, 0, 255).astype(np.uint8)
            if arr.ndim == 2:
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_video(value: Any, what: str = "video") -> list[Image.Image]:
    """The frames of an encoded video (what FFmpeg, through PyAV, reads)."""
    import av

    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded video file, got {type(value).__name__}")
    frames: list[Image.Image] = []
    try:
        with av.open(io.BytesIO(value), mode="r") as container:
            if not container.streams.video:
                raise InvalidInput(f"{what}: the file has no video stream")
            for frame in container.decode(video=0):
                frames.append(frame.to_image())
                if len(frames) > MAX_VIDEO_FRAMES:
                    raise InvalidInput(f"{what}: more than {MAX_VIDEO_FRAMES} frames")
    except av.FFmpegError as e:
        raise InvalidInput(f"{what} is not a video FFmpeg can read ({e.__class__.__name__})") from None
    if not frames:
        raise InvalidInput(f"{what}: the video has no frames")
    return frames


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
    encode = {ColumnType.IMAGE: encode_image, ColumnType.AUDIO: encode_audio, ColumnType.VIDEO: encode_video}[
        kind
    ]
    encoded = []
    for i, v in enumerate(values):
        try:
            encoded.append(encode(v, f"{what} row {i}"))
        except InvalidInput as e:
            raise error(e.message) from None
    return pd.DataFrame({name: pd.Series(encoded, dtype=object)})


MEDIA_COLUMNS = {
    InputType.IMAGE: ColumnType.IMAGE,
    InputType.AUDIO: ColumnType.AUDIO,
    InputType.VIDEO: ColumnType.VIDEO,
}


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
