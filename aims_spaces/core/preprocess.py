"""Preprocessors are data, never code.

A submission's preprocessor says how raw inputs (texts, and later images, audio, video) become
the ONNX model's input tensors. It travels and is stored as one JSON document::

    {"spec": {"kind": "tokenizer", "max_length": 32, ...}, "tokenizer": {<tokenizer.json>}}

The hub validates it against the model's inputs when the submission arrives and applies it
identically in evaluation, in the model server and (through the model server) in the demo.
Anything that is not one of the declared kinds is refused; a Python function may be used on the
client to make predictions, but it is never uploaded or run by the hub.

A media file need not already fit the model: once its decode has checked it against the hub's
limits, a sound is mixed down and resampled, a picture or video frame turned upright, converted
to the spec's colour mode and resized, and a clip's frames sampled to the spec's count. Only
what cannot be converted is refused, with a message naming the file's row.
"""

from __future__ import annotations

import json
from fractions import Fraction
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
    """Images: decode, turn upright, convert to a colour mode, resize, scale, normalise, lay out."""

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
    """Sound: decode, mix to mono, resample to ``sample_rate``, pad or trim to a duration, then
    the raw waveform or log-mel features."""

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
    """Video: decode, sample ``frames`` frames evenly (repeating frames of a shorter clip), then
    each frame as an image spec would (converted and resized)."""

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

    @model_validator(mode="after")
    def _check(self) -> VideoSpec:
        try:  # each frame must make a valid image spec (size, mean/std against the mode, …)
            self.frame_spec()
        except ValidationError as e:
            raise ValueError(str(e.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return self

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

        what = f"row {row}"
        # The decode checks the format and the size first; only a picture within the limits is
        # turned, converted and resized.
        img = conform_image(decode_image(value, what=what, limits=self.limits), self.spec, what)
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

        what = f"row {row}"
        # The decode checks the format, channels, rate and length first (and stops reading at
        # the limits); only a sound within them is mixed down and resampled.
        wave, rate = decode_audio(value, what=what, limits=self.limits)
        wave = conform_sound(wave, rate, self.spec, what)
        n = self.spec.samples
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


# --- conversion to what the model takes -------------------------------------------------------

# The most the up- or down-sampling factor of a resampling may be, after reducing the ratio of
# the two rates: every pair of usual rates (8, 11.025, 16, 22.05, 32, 44.1, 48, 96, 192 kHz)
# is exact within it; any other pair is brought within it, its ratio off by at most 0.1% (a
# pitch change of under 2 cents).
_MAX_RESAMPLE_FACTOR = 1000
_RESAMPLE_MARGIN = 64  # samples at the model's rate: the reach of resample_poly's filter for usual rates


def conform_sound(wave: np.ndarray, rate: int, spec: AudioSpec, what: str = "the sound") -> np.ndarray:
    """A decoded sound as the model hears it: mixed down to mono, resampled to
    ``spec.sample_rate`` and padded with silence or cut to ``spec.duration_s`` (float32).

    Only the part the model hears is resampled, so the work is bounded by the spec's duration
    whatever the sound's length.

    Raises:
        InvalidInput: the two sample rates are too far apart to convert (more than 1000×).
    """
    target = spec.sample_rate
    if not (target / _MAX_RESAMPLE_FACTOR <= rate <= target * _MAX_RESAMPLE_FACTOR):
        raise InvalidInput(
            f"{what} is sampled at {rate:,} Hz, too far from the {target:,} Hz this model takes "
            f"to convert (at most {_MAX_RESAMPLE_FACTOR}× apart)"
        )
    # The frames at the sound's rate that the model hears, and a few more so the resampling
    # filter sees the sound go on past the cut rather than silence.
    heard = -(-(spec.samples + _RESAMPLE_MARGIN) * rate // target)
    wave = np.asarray(wave[:heard], dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1, dtype=np.float32)
    if rate != target and len(wave):
        from scipy.signal import resample_poly

        up, down = _resample_factors(rate, target)
        wave = resample_poly(wave, up, down).astype(np.float32, copy=False)
    n = spec.samples
    return wave[:n] if len(wave) >= n else np.pad(wave, (0, n - len(wave)))


def _resample_factors(rate: int, target: int) -> tuple[int, int]:
    """``(up, down)`` with ``rate * up / down`` the target rate (or within 0.1% of it), neither
    over :data:`_MAX_RESAMPLE_FACTOR`."""
    ratio = Fraction(target, rate)
    if max(ratio.numerator, ratio.denominator) > _MAX_RESAMPLE_FACTOR:
        # limit_denominator bounds the denominator; taken of the ratio below 1, whose numerator
        # is the smaller, it bounds both factors.
        if ratio <= 1:
            ratio = ratio.limit_denominator(_MAX_RESAMPLE_FACTOR)
        else:
            ratio = 1 / (1 / ratio).limit_denominator(_MAX_RESAMPLE_FACTOR)
    return ratio.numerator, ratio.denominator


# Pillow modes of one 16- or 32-bit integer channel: scaled to 8 bits, not clipped.
_WIDE_GREY = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def conform_image(img: Image.Image, spec: ImageSpec, what: str = "the image") -> Image.Image:
    """A decoded picture as the model sees it: turned upright as its EXIF orientation says,
    converted to ``spec.mode`` (16-bit grey scaled to 8 bits; transparency dropped, as
    ``Image.convert`` does) and resized to ``spec.size``.

    Raises:
        InvalidInput: a colour mode Pillow cannot convert to the spec's.
    """
    from PIL import ImageOps

    if img.getexif().get(0x0112, 1) != 1:  # Orientation: a phone photo taken sideways
        img = ImageOps.exif_transpose(img)
    if img.mode in _WIDE_GREY:
        # Sampled down first (nearest works in every mode): widening a whole 40-megapixel frame
        # to int64 took ~0.9 GB and seconds before the resize to the model's small size.
        width, height = spec.size
        if img.width > 2 * width or img.height > 2 * height:
            small = (min(img.width, 2 * width), min(img.height, 2 * height))
            img = img.resize(small, resample=Image.Resampling.NEAREST)
        grey = np.asarray(img, dtype=np.int64)
        shift = 8 if img.mode != "I" or grey.max(initial=0) > 255 else 0
        img = Image.fromarray(np.clip(grey >> shift, 0, 255).astype(np.uint8))
    if img.mode != spec.mode:
        try:
            img = img.convert(spec.mode)
        except ValueError:
            try:
                img = img.convert("RGBA").convert(spec.mode)
            except ValueError:
                raise InvalidInput(
                    f"{what} is in the {img.mode} colour mode, which cannot be converted to the "
                    f"{spec.mode} this model takes"
                ) from None
    width, height = spec.size
    if img.size != (width, height):
        img = img.resize((width, height), resample=Image.Resampling.BILINEAR)
    return img


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
    if isinstance(spec, MEDIA_SPECS):
        _check_size(spec)
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


# Each field of a spec is bounded; these bound what they make together, per row: the model's
# input (a 64-frame 224×224 RGB clip is 9.6 M values) and the STFT a log-mel spec computes.
MAX_INPUT_VALUES = 2**24
MAX_STFT_VALUES = 2**26


def _check_size(spec: ImageSpec | AudioSpec | VideoSpec) -> None:
    values = int(np.prod(spec.shape(), dtype=np.int64))
    if values > MAX_INPUT_VALUES:
        raise InvalidSpec(
            f"the {spec.kind} spec makes {values:,} input values per row; at most {MAX_INPUT_VALUES:,}"
        )
    if isinstance(spec, AudioSpec) and spec.features == "log_mel":
        frames = 1 + max(spec.samples - spec.n_fft, 0) // spec.hop_length
        if frames * spec.n_fft > MAX_STFT_VALUES:
            raise InvalidSpec(
                f"the audio spec's log-mel features take {frames:,} frames of {spec.n_fft} samples "
                f"per row; at most {MAX_STFT_VALUES:,} values (raise hop_length or lower n_fft)"
            )


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
