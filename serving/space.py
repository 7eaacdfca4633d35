"""One playground's runtime model served alone, the way a Hugging Face Space runs it: its demo
(Gradio) and its REST prediction on one port, with no hub, database or Ray.

``aims export-space NAME DIR`` writes the folder this reads (``space.json``, ``model.onnx``, an
optional preprocessor and example rows) beside an ``app.py`` that calls :func:`main`. Requests
are read and answered by the model server's own code (:class:`~serving.router.Router`), so a
prediction here takes the same JSON, obeys the same limits and fails with the same errors as
``POST <serve url>/<playground>/predict`` on the hub.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from aims_spaces.core import preprocess
from aims_spaces.core.limits import DEFAULT_LIMITS
from aims_spaces.core.onnx_model import Deadline, OnnxModel
from aims_spaces.domain import ColumnType, Route, Signature, TaskType
from aims_spaces.errors import AimsError, DeploymentFailed, InvalidInput, PayloadTooLarge, http_status

from .router import Router, check_length

SPACE_FILE = "space.json"
MODEL_FILE = "model.onnx"
PREPROCESSOR_FILE = "preprocessor.json"
EXAMPLES_FILE = "examples.parquet"
MAX_BODY_BYTES = 32 * 1024 * 1024  # as the hub's AIMS_MAX_PREDICT_MB default
PREDICT_TIMEOUT_S = 30.0  # as the hub's AIMS_PREDICT_TIMEOUT_S default


class SpaceModel:
    """The exported model with its route, ready to answer."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.meta: dict[str, Any] = json.loads((folder / SPACE_FILE).read_text())
        self.name: str = self.meta["name"]
        signature = Signature.model_validate(self.meta["signature"])
        self.route = Route(
            playground=self.name,
            version=int(self.meta["version"]),
            model_sha256="exported",
            signature=signature,
            private=False,
        )
        self.router = Router(authenticate=lambda _token: None, limits=DEFAULT_LIMITS)
        prep_path = folder / PREPROCESSOR_FILE
        prep = preprocess.load(prep_path.read_bytes(), limits=DEFAULT_LIMITS) if prep_path.exists() else None
        self.model = OnnxModel((folder / MODEL_FILE).read_bytes(), signature, preprocessor=prep).load()
        examples = folder / EXAMPLES_FILE
        self.examples = pd.read_parquet(examples) if examples.exists() else pd.DataFrame()

    @property
    def signature(self) -> Signature:
        return self.route.signature

    def answer(self, doc: Any) -> dict[str, Any]:
        """The endpoint's answer to a parsed JSON body; raises AimsError for bad input."""
        inputs, _ = self.router.parse_doc(self.route, doc)

        def too_long() -> Exception:
            return DeploymentFailed(f"the prediction took longer than {PREDICT_TIMEOUT_S:.0f} s")

        output = self.model.run(inputs, deadline=Deadline.after(PREDICT_TIMEOUT_S, too_long))
        return Router.format(self.route, output)


def _error(e: AimsError) -> JSONResponse:
    return JSONResponse(e.to_payload(), status_code=http_status(e))


def build_space(folder: Path) -> FastAPI:
    """The Space's app: ``POST /predict`` (also under ``/<name>/predict`` and
    ``/api/playgrounds/<name>/predict``, the hub's two addresses) and the demo at ``/``."""
    space = SpaceModel(folder)
    app = FastAPI(title=f"{space.name} · aims_spaces", docs_url=None, redoc_url=None, openapi_url=None)

    busy = asyncio.Semaphore(2)  # the machine's cores; more requests wait their turn

    async def predict(request: Request) -> JSONResponse:
        try:
            check_length(request.headers.get("content-length"), MAX_BODY_BYTES)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES // 2**20} MiB")
            try:
                doc = json.loads(body)
            except ValueError:
                raise InvalidInput("the body is not valid JSON") from None
            async with busy:  # decoding and the model run off the event loop
                return JSONResponse(await run_in_threadpool(space.answer, doc))
        except AimsError as e:
            return _error(e)

    for path in ("/predict", f"/{space.name}/predict", f"/api/playgrounds/{space.name}/predict"):
        app.add_api_route(path, predict, methods=["POST"], include_in_schema=False)
    demo = _demo(space)
    app = gr.mount_gradio_app(app, demo, path="/", max_file_size=MAX_BODY_BYTES, show_error=False)
    # Gradio checks that a file named in a request was uploaded only once it believes it was
    # launched, which a mounted app never is; the inputs check it again (_uploaded_only).
    demo.has_launched = True
    return app


def _uploaded_only(component: Any) -> Any:
    """Have a media input hand on the uploaded file's path, undecoded, and only a file Gradio
    received for this page: never a path a caller typed (Gradio's media models take one without
    its "meta"), never a file over the size limit. The file is decoded by the model server's
    code, within its limits."""
    cache = os.path.realpath(component.GRADIO_CACHE)

    def preprocess(payload: Any) -> str | None:
        if payload is None:
            return None
        path = getattr(payload, "path", None) or getattr(getattr(payload, "video", None), "path", None)
        real = os.path.realpath(str(path)) if path else ""
        if not real.startswith(cache + os.sep) or not os.path.isfile(real):
            raise gr.Error("Upload the file from this page.", print_exception=False)
        if os.path.getsize(real) > MAX_BODY_BYTES:
            raise gr.Error(f"The file is larger than {MAX_BODY_BYTES // 2**20} MiB.", print_exception=False)
        return real

    component.preprocess = preprocess
    return component


def _demo(space: SpaceModel) -> gr.Blocks:
    sig = space.signature
    with gr.Blocks(title=f"{space.name} · aims_spaces") as demo:
        gr.Markdown(f"# {space.name}\n\n{space.meta.get('description') or ''}")
        gr.Markdown(f"Predictions come from version **{space.route.version}** of the playground's models.")
        inputs: list[gr.components.Component] = []
        for column in sig.feature_schema:
            if column.dtype is ColumnType.IMAGE:
                inputs.append(_uploaded_only(gr.Image(label=column.name, type="filepath", height=220)))
            elif column.dtype is ColumnType.AUDIO:
                inputs.append(_uploaded_only(gr.Audio(label=column.name, type="filepath", format=None)))
            elif column.dtype is ColumnType.VIDEO:
                inputs.append(_uploaded_only(gr.Video(label=column.name, height=220, format=None)))
            elif column.dtype is ColumnType.STRING and column.categories:
                inputs.append(gr.Dropdown(choices=column.categories, label=column.name))
            elif column.dtype is ColumnType.BOOL:
                inputs.append(gr.Checkbox(label=column.name))
            else:
                inputs.append(gr.Textbox(label=column.name))
        button = gr.Button("Predict", variant="primary")
        if sig.task_type is TaskType.CLASSIFICATION:
            output: gr.components.Component = gr.Label(label="prediction", num_top_classes=5)
        else:
            output = gr.Textbox(label="prediction")

        def predict(*values: Any) -> Any:
            row: dict[str, Any] = {}
            for column, value in zip(sig.feature_schema, values, strict=True):
                if value is None or (isinstance(value, str) and not value.strip()):
                    if column.dtype is not ColumnType.BOOL:
                        raise gr.Error(f"Fill in {column.name!r}.", print_exception=False)
                if column.dtype.media:
                    row[column.name] = base64.b64encode(Path(value).read_bytes()).decode()
                elif column.dtype in (ColumnType.INT, ColumnType.FLOAT):
                    try:
                        row[column.name] = float(value)
                    except (TypeError, ValueError):
                        raise gr.Error(
                            f"{column.name!r} must be a number, got {str(value)[:40]!r}.",
                            print_exception=False,
                        ) from None
                else:
                    row[column.name] = value
            try:
                answer = space.answer({"rows": [row]})
            except AimsError as e:
                raise gr.Error(e.message, print_exception=False) from None
            if sig.task_type is TaskType.REGRESSION:
                return f"{answer['predictions'][0]:.4g}"
            if "probabilities" in answer:
                return answer["probabilities"][0]
            return {str(answer["predictions"][0]): 1.0}

        button.click(predict, inputs=inputs, outputs=output, api_name="predict")
        names = [c.name for c in sig.feature_schema]
        if not space.examples.empty and not any(c.dtype.media for c in sig.feature_schema):
            rows = space.examples[names].head(10)
            gr.Examples(
                examples=[[_plain(v) for v in row] for row in rows.itertuples(index=False)], inputs=inputs
            )
        gr.Markdown(
            'REST: `POST /predict` with `{"rows": [{"<column>": value, ...}]}` answers '
            '`{"predictions": [...], "probabilities": [...]}`.'
        )
    return demo


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return str(value) if isinstance(value, float) else value


def main(app_file: str) -> None:
    """Serve the Space whose files sit beside ``app_file`` on ``GRADIO_SERVER_NAME`` (default
    127.0.0.1; a Space sets 0.0.0.0) and ``GRADIO_SERVER_PORT`` (default 7860)."""
    import uvicorn

    folder = Path(app_file).resolve().parent
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(f"{folder.name}: serving at http://{host}:{port}", flush=True)
    uvicorn.run(build_space(folder), host=host, port=port, log_level="warning")
