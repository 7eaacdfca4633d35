"""The Submit tab's preprocessor on image, audio and video playgrounds: a form built from the
fields of the playground's spec (:mod:`aims_spaces.core.preprocess`), or a spec file (JSON).

An ONNX model takes tensors, not files; the preprocessor is the data that says how the hub turns
each file into the model's input. The form makes the document the Python client uploads
(``{"spec": {"kind": "image", ...}}``, :func:`~aims_spaces.core.preprocess.document`), checked
first by the function the hub checks every submission's preprocessor with
(:func:`~aims_spaces.core.preprocess.load`), so a refusal names the field here as it would there.
The functions below hold no Gradio state; :class:`PreprocessorForm` lays the fields out as widgets.
"""

from __future__ import annotations

import io
import json
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import gradio as gr
import pandas as pd
from pydantic import ValidationError

from aims_spaces.core import preprocess
from aims_spaces.core.limits import DecodeLimits
from aims_spaces.domain import InputType
from aims_spaces.errors import InvalidSpec

SPECS: dict[InputType, type[Any]] = {
    InputType.IMAGE: preprocess.ImageSpec,
    InputType.AUDIO: preprocess.AudioSpec,
    InputType.VIDEO: preprocess.VideoSpec,
}
NOUN = {InputType.IMAGE: "image", InputType.AUDIO: "sound", InputType.VIDEO: "video"}
MAX_SPEC_FILE_BYTES = 64 * 1024  # a media spec is a few lines of JSON
FILE_PARAM = "preprocessor_file"
PARAM_PREFIX = "preprocessor_"  # the form's fields in the Gradio API: preprocessor_size, ...

# Plain words for each field, by (kind, field) first, then by field; a field without a line
# here (one added to a spec later) still gets a widget, labelled with its name.
HELP: dict[str, str] = {
    "image.size": "width, height in pixels the model takes: every image is resized to it",
    "video.size": "width, height in pixels of each frame the model takes",
    "mode": "RGB: three colour channels; L: one grey channel",
    "scale": "each value 0–255 is multiplied by this: 0.00392 (1/255) makes 0–1, 1 keeps 0–255",
    "mean": "optional, one number per channel, subtracted after scaling, e.g. 0.485, 0.456, 0.406",
    "std": "optional, one number per channel, divided by after that, e.g. 0.229, 0.224, 0.225",
    "image.layout": "NCHW: (batch, channels, height, width), as PyTorch; NHWC: (batch, height, width, "
    "channels), as Keras; flat: one row of numbers per image, as scikit-learn",
    "video.layout": "NCTHW: (batch, channels, frames, height, width); NTCHW: (batch, frames, channels, "
    "height, width); flat: one row of numbers per video, as scikit-learn",
    "audio.layout": "plain: (batch, values); channel: (batch, 1, values); flat: one row per sound",
    "input": "the name of the model's input (the error message names it if this is wrong)",
    "dtype": "the number type of the model's input",
    "sample_rate": "the sample rate in Hz the model takes",
    "duration_s": "in seconds: longer sounds are cut, shorter ones padded with silence",
    "features": "waveform: the samples themselves; log_mel: log-mel spectrogram bands",
    "n_mels": "log_mel only: number of mel bands",
    "n_fft": "log_mel only: samples per spectrum window",
    "hop_length": "log_mel only: samples between windows",
    "frames": "frames taken evenly spaced from each video",
}

FieldKind = Literal["choice", "int", "float", "bool", "numbers", "text"]


@dataclass(frozen=True)
class FormField:
    """One field of a spec as the form shows it."""

    name: str
    kind: FieldKind
    default: Any  # None: no default (required), or a field whose default is None (optional)
    required: bool
    choices: tuple[str, ...] = ()
    length: int | None = None  # a fixed-length tuple of numbers (size: width, height)
    help: str = ""


def form_fields(spec_cls: type[Any]) -> list[FormField]:
    """The fields of a spec class, in order, as form fields (``kind`` is the form's own)."""
    kind = spec_cls.model_fields["kind"].default
    fields = []
    for name, info in spec_cls.model_fields.items():
        if name == "kind":
            continue
        annotation = info.annotation
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        origin, args = get_origin(annotation), get_args(annotation)
        length = None
        choices: tuple[str, ...] = ()
        field_kind: FieldKind
        if origin is Literal:
            field_kind, choices = "choice", tuple(str(a) for a in args)
        elif annotation is bool:
            field_kind = "bool"
        elif annotation is int:
            field_kind = "int"
        elif annotation is float:
            field_kind = "float"
        elif origin in (tuple, list):
            field_kind = "numbers"
            length = len(args) if origin is tuple and Ellipsis not in args else None
        elif annotation is str:
            field_kind = "text"
        else:  # a new kind of field in core.preprocess: the form must learn it
            raise TypeError(f"the form cannot show {spec_cls.__name__}.{name} ({annotation!r})")
        required = info.is_required()
        fields.append(
            FormField(
                name=name,
                kind=field_kind,
                default=None if required else info.get_default(call_default_factory=True),
                required=required,
                choices=choices,
                length=length,
                help=HELP.get(f"{kind}.{name}") or HELP.get(name) or (info.description or ""),
            )
        )
    return fields


def form_document(input_type: InputType, values: Mapping[str, Any], limits: DecodeLimits) -> bytes:
    """The preprocessor document the form's ``values`` (field name -> widget value) make.

    Raises:
        InvalidSpec: a field is empty, not a number, or refused by the spec; the message names it.
    """
    spec_cls = SPECS[input_type]
    kind = spec_cls.model_fields["kind"].default
    spec: dict[str, Any] = {"kind": kind}
    for field in form_fields(spec_cls):
        value = values.get(field.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                raise InvalidSpec(f"{field.name}: fill it in ({field.help})")
            continue  # the spec's default
        if field.kind == "numbers":
            value = _numbers(value, field)
        elif field.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif field.kind == "text":
            value = str(value).strip()
        spec[field.name] = value
    return _checked(json.dumps({"spec": spec}).encode(), input_type, limits)


def file_document(path: str, input_type: InputType, limits: DecodeLimits) -> bytes:
    """The preprocessor document in a spec file: the document itself (``{"spec": {...}}``, as an
    earlier submission's ``preprocessor.json`` holds it) or only its spec (``{"kind": ...}``).

    Raises:
        InvalidSpec: the file is too large, not JSON, of another kind, or refused by the spec.
    """
    size = os.path.getsize(path)
    if size > MAX_SPEC_FILE_BYTES:
        raise InvalidSpec(
            f"the spec file is {size / 1024:,.0f} KiB; a preprocessor spec is a few lines of JSON "
            f"(at most {MAX_SPEC_FILE_BYTES // 1024} KiB)"
        )
    with open(path, "rb") as f:
        data = f.read(MAX_SPEC_FILE_BYTES + 1)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise InvalidSpec(f'the spec file is not JSON ({e}); write e.g. {{"kind": "image", ...}}') from None
    if isinstance(doc, dict) and "spec" not in doc and "kind" in doc:
        doc = {"spec": doc}
    return _checked(json.dumps(doc).encode(), input_type, limits)


def submitted_document(input_type: InputType, values: Mapping[str, Any], limits: DecodeLimits) -> bytes:
    """The document from the submit event's preprocessor values (keyed as
    :attr:`PreprocessorForm.inputs`): the spec file's if one is chosen, else the form's."""
    if input_type not in SPECS:
        raise InvalidSpec(f"a {input_type.value} playground takes no preprocessor from this form")
    path = values.get(FILE_PARAM)
    if path:
        return file_document(str(path), input_type, limits)
    fields = {
        k.removeprefix(PARAM_PREFIX): v
        for k, v in values.items()
        if k != FILE_PARAM and k.startswith(PARAM_PREFIX)
    }
    return form_document(input_type, fields, limits)


def _checked(data: bytes, input_type: InputType, limits: DecodeLimits) -> bytes:
    """``data`` checked by the hub's own function, then as the client writes it."""
    kind = SPECS[input_type].model_fields["kind"].default
    doc = json.loads(data)
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(spec, dict) and spec.get("kind") != kind:
        found = spec.get("kind")
        raise InvalidSpec(
            f"kind: this is an {input_type.value} playground, so its preprocessor is of kind {kind!r}"
            + (f", not {found!r}" if found is not None else " (the spec does not say)")
        )
    try:
        loaded = preprocess.load(data, limits=limits)
    except ValidationError as e:  # a spec check that core.preprocess.load does not translate
        problems = "; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise InvalidSpec(f"invalid preprocessor spec: {kind}: {problems}") from None
    return preprocess.document(loaded.spec)


def _numbers(value: Any, field: FormField) -> list[int | float]:
    """``"224, 224"`` (or ``224x224``, ``224 224``) as numbers."""
    if isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [p for p in re.split(r"[,;\s×xX]+", str(value).strip()) if p]
    numbers: list[int | float] = []
    for part in parts:
        try:
            number = float(part)
        except (TypeError, ValueError):
            example = "224, 224" if field.length == 2 else "0.5, 0.5, 0.5"
            raise InvalidSpec(
                f"{field.name}: {str(value)[:80]!r} is not a list of numbers; write e.g. {example}"
            ) from None
        numbers.append(int(number) if number.is_integer() else number)
    if field.length is not None and len(numbers) != field.length:
        raise InvalidSpec(f"{field.name}: give {field.length} numbers ({field.help}), got {len(numbers)}")
    return numbers


def example_defaults(input_type: InputType, example: pd.DataFrame | None) -> dict[str, Any]:
    """Suggestions from the playground's first example file: an image's size and colour mode, a
    sound's sample rate and length. Empty when there is none to read."""
    if example is None or example.empty or not isinstance(example.iloc[0, 0], bytes):
        return {}
    data = example.iloc[0, 0]
    try:
        if input_type is InputType.IMAGE:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:  # the header only; checked at upload
                grey = img.mode in ("1", "L", "LA", "I", "I;16", "F")
                return {"size": img.size, "mode": "L" if grey else "RGB"}
        if input_type is InputType.AUDIO:
            import soundfile

            info = soundfile.info(io.BytesIO(data))
            return {"sample_rate": int(info.samplerate), "duration_s": round(float(info.duration), 3)}
    except Exception:  # a file this machine's Pillow or libsndfile cannot read: no suggestion
        return {}
    return {}


def explanation(input_type: InputType) -> str:
    """Which models need a preprocessor, in plain words, for the Submit tab."""
    if input_type is InputType.TABULAR:
        return "Models here take the feature columns as they are: no preprocessor is needed."
    if input_type is InputType.TEXT:
        return (
            "A model that takes the texts as they are (e.g. a scikit-learn pipeline with its "
            "vectoriser, converted to ONNX) needs nothing more. A model that takes token ids (a "
            "transformer) needs its tokenizer as a preprocessor, which the Python client attaches: "
            "`pg.submit_model(model, preprocessor=tokenizer)`."
        )
    noun = NOUN[input_type]
    return (
        f"**Preprocessor.** An ONNX model takes numbers (a tensor), not {noun} files, so every model "
        f"you upload here needs a preprocessor: a few settings saying how the hub turns each {noun} "
        "into the model's input. The hub applies it the same way when it scores your model, serves "
        "it and runs the Demo. It is data, never code. A predictions CSV without a model needs none.\n\n"
        "Fill in the form with what your model was trained on, or choose a spec file (JSON: the "
        f'`preprocessor.json` of an earlier version, or `{{"kind": "{input_type.value}", ...}}`); a '
        "chosen file is used instead of the form."
    )


class PreprocessorForm:
    """The preprocessor's widgets, built inside the Submit tab of a media playground.
    :attr:`inputs` is the submit event's ``inputs_kwargs``; :func:`submitted_document` reads
    their values back."""

    def __init__(self, input_type: InputType, example: pd.DataFrame | None) -> None:
        self.input_type = input_type
        self.fields = form_fields(SPECS[input_type])
        suggested = example_defaults(input_type, example)
        self.widgets: dict[str, gr.components.Component] = {}
        with gr.Accordion(f"Preprocessor: how each {NOUN[input_type]} becomes the model's input", open=True):
            gr.Markdown(explanation(input_type))
            if suggested:
                gr.Markdown(
                    "Filled in from this playground's example: "
                    + "; ".join(f"**{k}** `{_shown(v)}`" for k, v in suggested.items())
                    + ". Change them to what your model was trained on."
                )
            for start in range(0, len(self.fields), 3):
                with gr.Row():
                    for field in self.fields[start : start + 3]:
                        default = suggested.get(field.name, field.default)
                        self.widgets[field.name] = _widget(field, default)
            self.file = gr.File(
                label="…or a spec file (.json), used instead of the form",
                file_types=[".json"],
                type="filepath",
            )

    @property
    def inputs(self) -> dict[str, gr.components.Component]:
        return {FILE_PARAM: self.file, **{PARAM_PREFIX + n: w for n, w in self.widgets.items()}}


def _widget(field: FormField, default: Any) -> gr.components.Component:
    label, info = field.name, field.help or None
    if field.kind == "choice":
        return gr.Dropdown(list(field.choices), value=default, label=label, info=info)
    if field.kind == "bool":
        return gr.Checkbox(value=bool(default), label=label, info=info)
    if field.kind in ("int", "float"):
        return gr.Number(value=default, label=label, info=info, step=1 if field.kind == "int" else 0.001)
    if field.kind == "numbers":
        placeholder = "width, height" if field.length == 2 else "empty: none"
        return gr.Textbox(value=_shown(default), label=label, info=info, placeholder=placeholder)
    return gr.Textbox(value="" if default is None else str(default), label=label, info=info)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


__all__ = [
    "FILE_PARAM",
    "PARAM_PREFIX",
    "SPECS",
    "FormField",
    "PreprocessorForm",
    "example_defaults",
    "explanation",
    "file_document",
    "form_document",
    "form_fields",
    "submitted_document",
]
