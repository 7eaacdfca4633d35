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

from .errors import InvalidModel, InvalidSpec

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


PreprocessorSpec = Annotated[TokenizerSpec | ImageSpec, Field(discriminator="kind")]
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


class ImagePreprocessor(Preprocessor):
    def __init__(self, spec: ImageSpec) -> None:
        self.spec = spec

    def input_names(self) -> list[str]:
        return [self.spec.input]

    def image(self, value: Any, row: int) -> np.ndarray:
        from .media import decode_image

        img = decode_image(value, what=f"row {row}").convert(self.spec.mode)
        if img.size != tuple(self.spec.size):
            img = img.resize(tuple(self.spec.size), resample=Image.BILINEAR)
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

    def feeds(self, values: Any) -> dict[str, np.ndarray]:
        batch = np.stack([self.image(v, i) for i, v in enumerate(list(values))])
        return {self.spec.input: batch.astype(self.spec.dtype)}


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


def load(data: bytes) -> Preprocessor:
    """Parse a preprocessor document; raise InvalidSpec/InvalidModel naming what is wrong."""
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
        return ImagePreprocessor(spec)
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
