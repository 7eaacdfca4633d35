"""Preprocessors are data, never code.

A submission's preprocessor says how raw inputs (texts, and later images, audio, video) become
the ONNX model's input tensors. It travels and is stored as one JSON document::

    {"spec": {"kind": "tokenizer", "max_length": 32, ...}, "tokenizer": {<tokenizer.json>}}

The hub validates it against the model's inputs when the submission arrives and applies it
identically in evaluation, in the model server and (through the model server) in the demo.
Anything that is not one of the declared kinds is refused; a Python function may be used on the
client to make predictions, but it is never uploaded or run by the hub.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ..errors import InvalidInput, InvalidModel, InvalidSpec
from .limits import DecodeLimits

MAX_PREPROCESSOR_BYTES = 32 * 2**20


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenizerSpec(_Spec):
    """A Hugging Face `tokenizers` tokenizer (its tokenizer.json) feeding token ids and a mask."""

    kind: Literal["tokenizer"] = "tokenizer"
    max_length: int = Field(default=128, ge=1, le=8192)
    input_ids: str = "input_ids"
    attention_mask: str | None = "attention_mask"
    token_type_ids: str | None = None


class ImageSpec(_Spec):
    """Images: decode, convert to a colour mode, resize, scale, normalise, lay out."""

    kind: Literal["image"] = "image"
    size: tuple[int, int] = Field(description="(width, height) the model takes")
    mode: Literal["RGB", "L"] = "RGB"
    scale: float = 1 / 255
    mean: list[float] | None = None
    std: list[float] | None = None
    layout: Literal["NCHW", "NHWC", "flat"] = "NCHW"
    input: str = "pixel_values"
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _check(self) -> ImageSpec:
        channels = 3 if self.mode == "RGB" else 1
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != channels:
                raise ValueError(f"{name} needs {channels} value(s) for mode {self.mode}, got {len(value)}")
        if self.std is not None and any(v == 0 for v in self.std):
            raise ValueError("std values must not be 0")
        if min(self.size) < 1 or max(self.size) > 4096:
            raise ValueError("size must be between 1 and 4096 pixels per side")
        return self

    @property
    def channels(self) -> int:
        return 3 if self.mode == "RGB" else 1

    def shape(self) -> list[int]:
        """The input's shape without the batch axis."""
        w, h = self.size
        if self.layout == "NCHW":
            return [self.channels, h, w]
        if self.layout == "NHWC":
            return [h, w, self.channels]
        return [h * w * self.channels]


class AudioSpec(_Spec):
    """Sound: decode, check the sample rate, mix to mono, pad or trim to a duration, then the raw
    waveform or log-mel features."""

    kind: Literal["audio"] = "audio"
    sample_rate: int = Field(ge=1000, le=192_000)
    duration_s: float = Field(gt=0, le=60)
    features: Literal["waveform", "log_mel"] = "waveform"
    n_mels: int = Field(default=40, ge=1, le=256)
    n_fft: int = Field(default=400, ge=16, le=8192)
    hop_length: int = Field(default=160, ge=1, le=8192)
    layout: Literal["plain", "channel", "flat"] = "plain"
    input: str = "input_values"
    dtype: Literal["float32", "float64"] = "float32"

    @property
    def samples(self) -> int:
        return int(round(self.sample_rate * self.duration_s))

    def shape(self) -> list[int]:
        if self.features == "waveform":
            inner = [self.samples]
        else:
            frames = 1 + max(self.samples - self.n_fft, 0) // self.hop_length
            inner = [self.n_mels, frames]
        if self.layout == "channel":
            return [1, *inner]
        if self.layout == "flat":
            return [int(np.prod(inner))]
        return inner


class VideoSpec(_Spec):
    """Video: decode, sample frames evenly, then each frame as an image spec would."""

    kind: Literal["video"] = "video"
    frames: int = Field(ge=1, le=256)
    size: tuple[int, int] = Field(description="(width, height) of each frame")
    mode: Literal["RGB", "L"] = "RGB"
    scale: float = 1 / 255
    mean: list[float] | None = None
    std: list[float] | None = None
    layout: Literal["NCTHW", "NTCHW", "flat"] = "NCTHW"
    input: str = "pixel_values"
    dtype: Literal["float32", "float64"] = "float32"

    def frame_spec(self) -> ImageSpec:
        return ImageSpec(
            size=self.size,
            mode=self.mode,
            scale=self.scale,
            mean=self.mean,
            std=self.std,
            layout="NHWC",
            input=self.input,
            dtype=self.dtype,
        )

    def shape(self) -> list[int]:
        w, h = self.size
        c = 3 if self.mode == "RGB" else 1
        if self.layout == "NCTHW":
            return [c, self.frames, h, w]
        if self.layout == "NTCHW":
            return [self.frames, c, h, w]
        return [self.frames * h * w * c]


MEDIA_SPECS = (ImageSpec, AudioSpec, VideoSpec)
PreprocessorSpec = Annotated[TokenizerSpec | ImageSpec | AudioSpec | VideoSpec, Field(discriminator="kind")]
_SPEC = TypeAdapter(PreprocessorSpec)


class Preprocessor:
    """A loaded preprocessor: ``feeds(values)`` turns a column of raw inputs into model inputs."""

    spec: Any

    def feeds(self, values: Any) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def input_names(self) -> list[str]:
        raise NotImplementedError


class TokenizerPreprocessor(Preprocessor):
    def __init__(self, spec: TokenizerSpec, tokenizer_json: str) -> None:
        from tokenizers import Tokenizer

        self.spec = spec
        try:
            tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as e:  # the Rust side raises its own Exception types for bad JSON
            raise InvalidModel(f"the preprocessor's tokenizer does not load: {e}") from None
        tokenizer.enable_truncation(max_length=spec.max_length)
        pad_id = tokenizer.token_to_id("[PAD]") or tokenizer.token_to_id("<pad>") or 0
        tokenizer.enable_padding(length=spec.max_length, pad_id=pad_id)
        self.tokenizer_ = tokenizer

    def input_names(self) -> list[str]:
        names = [self.spec.input_ids]
        names += [n for n in (self.spec.attention_mask, self.spec.token_type_ids) if n]
        return names

    def feeds(self, values: Any) -> dict[str, np.ndarray]:
        texts = ["" if v is None else str(v) for v in list(values)]
        encodings = self.tokenizer_.encode_batch(texts)
        out = {self.spec.input_ids: np.array([e.ids for e in encodings], dtype=np.int64)}
        if self.spec.attention_mask:
            out[self.spec.attention_mask] = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        if self.spec.token_type_ids:
            out[self.spec.token_type_ids] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        return out


class MediaPreprocessor(Preprocessor):
    """One file per row, each made into an array by :meth:`row`; the batch is one input tensor."""

    def input_names(self) -> list[str]:
        return [self.spec.input]

    def row(self, value: Any, row: int) -> np.ndarray:
        raise NotImplementedError

    def feeds(self, values: Any) -> dict[str, np.ndarray]:
        batch = np.stack([self.row(v, i) for i, v in enumerate(list(values))])
        return {self.spec.input: batch.astype(self.spec.dtype)}


class ImagePreprocessor(MediaPreprocessor):
    def __init__(self, spec: ImageSpec, limits: DecodeLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits

    def row(self, value: Any, row: int) -> np.ndarray:
        from .media import decode_image

        img = decode_image(value, what=f"row {row}", limits=self.limits).convert(self.spec.mode)
        if img.size != tuple(self.spec.size):
            img = img.resize(tuple(self.spec.size), resample=Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        arr = arr * self.spec.scale
        if self.spec.mean is not None:
            arr = arr - np.asarray(self.spec.mean)
        if self.spec.std is not None:
            arr = arr / np.asarray(self.spec.std)
        if self.spec.layout == "NCHW":
            arr = arr.transpose(2, 0, 1)
        elif self.spec.layout == "flat":
            arr = arr.reshape(-1)
        return arr


class AudioPreprocessor(MediaPreprocessor):
    def __init__(self, spec: AudioSpec, limits: DecodeLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits
        self._mel = (
            _mel_filters(spec.sample_rate, spec.n_fft, spec.n_mels) if spec.features == "log_mel" else None
        )

    def row(self, value: Any, row: int) -> np.ndarray:
        from .media import decode_audio

        wave, rate = decode_audio(value, what=f"row {row}", limits=self.limits)
        if rate != self.spec.sample_rate:
            raise InvalidInput(
                f"row {row}: the sound is sampled at {rate} Hz; this model takes {self.spec.sample_rate} Hz"
            )
        wave = wave.mean(axis=1) if wave.ndim == 2 else wave
        n = self.spec.samples
        wave = wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave)))
        if self._mel is None:
            out = wave
        else:
            fft, hop = self.spec.n_fft, self.spec.hop_length
            frames = 1 + max(n - fft, 0) // hop
            padded = np.pad(wave, (0, max(fft - n, 0)))
            idx = np.arange(fft)[None, :] + hop * np.arange(frames)[:, None]
            spectrum = np.abs(np.fft.rfft(padded[idx] * np.hanning(fft), axis=1)) ** 2
            out = np.log(spectrum @ self._mel.T + 1e-10).T  # (n_mels, frames)
        if self.spec.layout == "channel":
            out = out[None]
        elif self.spec.layout == "flat":
            out = out.reshape(-1)
        return out


class VideoPreprocessor(MediaPreprocessor):
    def __init__(self, spec: VideoSpec, limits: DecodeLimits | None = None) -> None:
        self.spec = spec
        self.limits = limits
        self._frames = ImagePreprocessor(spec.frame_spec())

    def row(self, value: Any, row: int) -> np.ndarray:
        from .media import decode_video

        frames = decode_video(value, what=f"row {row}", limits=self.limits)
        pick = np.linspace(0, len(frames) - 1, self.spec.frames).round().astype(int)
        arr = np.stack([self._frames.row(frames[i], row) for i in pick])  # (T, H, W, C)
        if self.spec.layout == "NCTHW":
            return arr.transpose(3, 0, 1, 2)
        if self.spec.layout == "NTCHW":
            return arr.transpose(0, 3, 1, 2)
        return arr.reshape(-1)


def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters (HTK scale), shape (n_mels, n_fft // 2 + 1)."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = to_hz(np.linspace(to_mel(np.array(0.0)), to_mel(np.array(sample_rate / 2)), n_mels + 2))
    filters = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (bins - lo) / max(mid - lo, 1e-9)
        down = (hi - bins) / max(hi - mid, 1e-9)
        filters[m] = np.clip(np.minimum(up, down), 0, None)
    return filters


def check_shape(preprocessor: Preprocessor, session_inputs: Any) -> None:
    """Refuse a model whose fixed input dimensions differ from what its preprocessor makes."""
    spec = preprocessor.spec
    if not hasattr(spec, "shape"):
        return
    for inp in session_inputs:
        if inp.name != spec.input:
            continue
        dims = list(inp.shape)[1:]
        expected = spec.shape()
        differ = len(dims) != len(expected) or any(
            isinstance(d, int) and d != e for d, e in zip(dims, expected, strict=True)
        )
        if differ:
            raise InvalidModel(
                f"the model's input {inp.name!r} has shape {['batch', *dims]} but the preprocessor makes "
                f"{['batch', *expected]} ({spec.kind} spec: {spec.model_dump()})"
            )


def load(data: bytes, *, limits: DecodeLimits | None = None) -> Preprocessor:
    """Parse a preprocessor document; raise InvalidSpec/InvalidModel naming what is wrong.

    ``limits`` bound each media file the preprocessor decodes (the defaults when not given).
    """
    if len(data) > MAX_PREPROCESSOR_BYTES:
        raise InvalidSpec(f"the preprocessor is larger than {MAX_PREPROCESSOR_BYTES // 2**20} MiB")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidSpec(f"the preprocessor is not JSON: {e}") from None
    if not isinstance(doc, dict) or "spec" not in doc:
        raise InvalidSpec('the preprocessor must be a JSON object {"spec": {"kind": ...}, ...}')
    unknown = set(doc) - {"spec", "tokenizer"}
    if unknown:
        raise InvalidSpec(f"the preprocessor has unknown field(s) {sorted(unknown)}")
    try:
        spec = _SPEC.validate_python(doc["spec"])
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}" for err in e.errors()
        )
        raise InvalidSpec(f"invalid preprocessor spec: {problems}") from None
    if isinstance(spec, ImageSpec):
        return ImagePreprocessor(spec, limits)
    if isinstance(spec, AudioSpec):
        return AudioPreprocessor(spec, limits)
    if isinstance(spec, VideoSpec):
        return VideoPreprocessor(spec, limits)
    if isinstance(spec, TokenizerSpec):
        if not isinstance(doc.get("tokenizer"), dict):
            raise InvalidSpec(
                "a tokenizer preprocessor needs the tokenizer's tokenizer.json under 'tokenizer'"
            )
        return TokenizerPreprocessor(spec, json.dumps(doc["tokenizer"]))
    raise InvalidSpec(f"unsupported preprocessor kind {doc['spec'].get('kind')!r}")  # pragma: no cover


def document(spec: _Spec, *, tokenizer_json: str | None = None) -> bytes:
    """The preprocessor document for ``spec`` (what the client uploads)."""
    doc: dict[str, Any] = {"spec": spec.model_dump(mode="json")}
    if tokenizer_json is not None:
        doc["tokenizer"] = json.loads(tokenizer_json)
    return json.dumps(doc, separators=(",", ":")).encode()


def tokenizer_document(tokenizer: Any, *, max_length: int = 128, **names: str | None) -> bytes:
    """A preprocessor document from a `tokenizers.Tokenizer` or a transformers fast tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not hasattr(backend, "to_str"):
        raise InvalidSpec(
            f"cannot use a {type(tokenizer).__name__} as a preprocessor: give a `tokenizers.Tokenizer` or a "
            "transformers *fast* tokenizer (their tokenizer.json is data; a Python function is not)"
        )
    return document(TokenizerSpec(max_length=max_length, **names), tokenizer_json=backend.to_str())
