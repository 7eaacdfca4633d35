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
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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


PreprocessorSpec = Annotated[TokenizerSpec, Field(discriminator="kind")]
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
