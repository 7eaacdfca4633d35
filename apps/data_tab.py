"""The Data tab of a playground's app: the training data its owner hands out, the eval features
and a sample submission, to download; for the owner (and co-owners), a form to upload or
replace the training data.

``build_data_tab(hub, name, sessions)`` builds it inside the app's ``with gr.Tab("Data")``; the
returned :class:`DataTab`'s ``wire(tab)`` fills it whenever the tab is opened. Callbacks only
turn widget values into service calls (``hub.training_data``) and service errors into
``gr.Error``; who may do what is the service's to say.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from aims_spaces.core.limits import DecodeLimits, mib
from aims_spaces.core.media import MEDIA_COLUMNS
from aims_spaces.core.tabular import csv_to_frame, frame_to_parquet, parquet_to_frame
from aims_spaces.domain import PlaygroundInfo
from aims_spaces.errors import AimsError, InvalidEvalData, public_message
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller
from aims_spaces.hub.training_data import TrainingDataInfo

from .session import Sessions
from .tables import md_text

T = TypeVar("T")

SHOWN_COLUMNS = 200  # a table of thousands of columns says less than its first few hundred
WHAT = "the training data file"


def _guard(fn: Callable[[], T]) -> T:
    """Run a service call; show its error to the user in plain words."""
    try:
        return fn()
    except AimsError as e:
        raise gr.Error(public_message(e.message), print_exception=False) from None


def download_file(hub: Hub, filename: str, data: bytes) -> Path:
    """A file for a download button, in one folder of the hub's own (named by its content, so
    asking again reuses it; files older than the web cache's age are removed on the way). Gradio
    copies it into its cache, which expires the same way."""
    folder = hub.settings.home / "gradio" / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - hub.settings.web_cache_max_age_s
    for old in folder.glob("*/*"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
                old.parent.rmdir()
        except OSError:  # removed meanwhile, or the folder is not empty yet
            pass
    path = folder / hashlib.sha256(data).hexdigest()[:32] / filename
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


class DataTab:
    """The Data tab's widgets and callbacks. Built inside the tab; :meth:`wire` attaches the
    tab's ``select`` event, which fills the description and the download buttons (a
    DownloadButton downloads the file it holds, so each gets its file before it is clicked)."""

    def __init__(self, hub: Hub, name: str, sessions: Sessions) -> None:
        self.hub = hub
        self.name = name
        self.sessions = sessions
        structure = hub.playgrounds.structure(name)  # the tab's shape; what a caller sees is checked
        self.media = structure.input_type in MEDIA_COLUMNS

        self.summary = gr.Markdown("Loading the playground's data…")
        with gr.Row():
            self.train_parquet = gr.DownloadButton("Training data (Parquet)", visible=False, size="sm")
            # Encoded media files do not fit in a CSV file.
            self.train_csv = (
                None if self.media else gr.DownloadButton("Training data (CSV)", visible=False, size="sm")
            )
            self.eval_features = gr.DownloadButton("Eval features (Parquet)", visible=False, size="sm")
            self.sample = gr.DownloadButton("Sample submission (CSV)", visible=False, size="sm")
        with gr.Group(visible=False) as self.owner_form:
            kinds = ".parquet" if self.media else ".parquet or .csv"
            gr.Markdown(
                f"### Upload training data (owner)\n\nA {kinds} table: "
                + (
                    f"the column `{structure.feature_schema[0].name}` of encoded files"
                    if self.media and structure.feature_schema
                    else "the eval features' columns"
                )
                + " plus the target column. It replaces the training data there is, and counts "
                "toward your storage limit."
            )
            self.file = gr.File(
                label=f"training data ({kinds})",
                file_types=[".parquet"] if self.media else [".parquet", ".csv"],
                type="filepath",
            )
            self.target = gr.Textbox(label="target column", placeholder="the column participants predict")
            self.descriptions = gr.Textbox(
                label="column descriptions (JSON, optional)",
                placeholder='{"age": "in years", "income": "yearly, in euros"}',
                lines=3,
            )
            with gr.Row():
                self.upload_btn = gr.Button("Upload", variant="primary")
                self.delete_btn = gr.Button("Delete the training data", variant="stop")

        self.outputs = [
            c
            for c in (
                self.summary,
                self.train_parquet,
                self.train_csv,
                self.eval_features,
                self.sample,
                self.owner_form,
            )
            if c is not None
        ]
        self.upload_btn.click(
            self.upload,
            inputs=[self.file, self.target, self.descriptions],
            outputs=self.outputs,
            api_visibility="private",
        )
        self.delete_btn.click(self.delete, outputs=self.outputs, api_visibility="private")

    def wire(self, tab: gr.Tab) -> None:
        """Fill the tab each time it is opened (call inside the app's ``gr.Blocks``)."""
        tab.select(self.refresh, outputs=self.outputs, api_visibility="private")

    # --- callbacks ---------------------------------------------------------------------------

    def refresh(self, request: gr.Request) -> dict[Any, Any]:
        """The description and the files, as the caller may see them; the form for the owner."""
        caller = self.sessions.of(request)
        hidden = gr.update(value=None, visible=False)
        out: dict[Any, Any] = {c: hidden for c in self.outputs}
        out[self.owner_form] = gr.update(visible=False)
        if caller is None:
            out[self.summary] = (
                f"[Log in](/login?next=/p/{self.name}/) to see and download this playground's data."
            )
            return out
        service = self.hub.training_data
        pg = _guard(lambda: self.hub.playgrounds.get(caller, self.name))
        info = _guard(lambda: service.info(caller, self.name))
        manages = service.can_upload(caller, self.name)
        out[self.summary] = describe(info, pg, manages=manages)
        out[self.owner_form] = gr.update(visible=manages)
        if info is not None:
            frame = _guard(lambda: service.download(caller, self.name))
            out[self.train_parquet] = self._file(f"{self.name}-train.parquet", frame_to_parquet(frame))
            if self.train_csv is not None:
                out[self.train_csv] = self._file(f"{self.name}-train.csv", frame.to_csv(index=False).encode())
        if pg.has_eval_features:
            features = _guard(lambda: self.hub.playgrounds.eval_features(caller, self.name))
            out[self.eval_features] = self._file(
                f"{self.name}-eval-features.parquet", frame_to_parquet(features)
            )
        sample = _guard(lambda: service.sample_submission(caller, self.name))
        out[self.sample] = self._file(
            f"{self.name}-sample-submission.csv", sample.to_csv(index=False).encode()
        )
        return out

    def upload(
        self, path: str | None, target: str | None, descriptions: str | None, request: gr.Request
    ) -> dict[Any, Any]:
        caller = self._need_login(request)
        if not path:
            raise gr.Error("Choose the training data file first.", print_exception=False)
        described = _parse_descriptions(descriptions or "")
        limits = self.hub.settings.decode_limits
        frame = _guard(lambda: read_table(path, limits, media=self.media))
        info = _guard(
            lambda: self.hub.training_data.upload(
                caller, self.name, frame, (target or "").strip() or None, described
            )
        )
        gr.Info(f"Training data uploaded: {info.rows:,} rows, {len(info.columns)} columns.")
        return self.refresh(request)

    def delete(self, request: gr.Request) -> dict[Any, Any]:
        caller = self._need_login(request)
        _guard(lambda: self.hub.training_data.delete(caller, self.name))
        gr.Info("The training data is deleted.")
        return self.refresh(request)

    def _need_login(self, request: gr.Request | None) -> Caller:
        caller = self.sessions.of(request)
        if caller is None:
            raise gr.Error(
                "Log in to do this (use the Log in link at the top of the page).", print_exception=False
            )
        return caller

    def _file(self, filename: str, data: bytes) -> Any:
        return gr.update(value=str(download_file(self.hub, filename, data)), visible=True)


def build_data_tab(hub: Hub, name: str, sessions: Sessions) -> DataTab:
    """The Data tab's contents, built inside an open ``with gr.Tab("Data") as tab:``; call
    ``.wire(tab)`` on the result (inside the app's ``gr.Blocks``) to fill it when opened."""
    return DataTab(hub, name, sessions)


def describe(info: TrainingDataInfo | None, pg: PlaygroundInfo, *, manages: bool = False) -> str:
    """The training data in Markdown: its shape, target and columns with their descriptions
    (the owner's text, escaped), and what a predictions file must look like."""
    n = pg.n_eval_rows
    predictions = (
        f"A predictions file has one `prediction` column with a value for each of the **{n:,}** eval "
        "rows, in the eval features' order: the sample submission is one."
    )
    if info is None:
        lines = ["**No training data yet.**"]
        if manages:
            lines.append("Upload it below: participants then download it here and from Python.")
        return "\n\n".join([*lines, predictions])
    target = f"target **{md_text(info.target)}**" if info.target else "no target column"
    lines = [
        f"**{info.rows:,} rows** and {len(info.columns):,} columns ({target}), "
        f"{_size(info.size_bytes)}; updated {info.updated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "| column | type | description |",
        "|---|---|---|",
    ]
    for column in info.columns[:SHOWN_COLUMNS]:
        lines.append(f"| {md_text(column.name)} | {md_text(column.dtype)} | {md_text(column.description)} |")
    if len(info.columns) > SHOWN_COLUMNS:
        lines.append(f"\n… and {len(info.columns) - SHOWN_COLUMNS:,} more columns (in the file).")
    lines += [
        "",
        predictions,
        "",
        "From Python:\n\n```python\nfrom aims_spaces import ModelPlayground\n"
        "from aims_spaces.client.data import download_data, get_sample_submission\n\n"
        f'pg = ModelPlayground(name="{pg.name}")\ntrain = download_data(pg)  # or format="datasets"\n'
        "sample = get_sample_submission(pg)\n```",
    ]
    return "\n".join(lines)


def read_table(path: str, limits: DecodeLimits, *, media: bool = False) -> Any:
    """The uploaded file as a DataFrame, read within ``limits``: Parquet (recognised by its first
    bytes), else CSV (not for media: encoded files do not fit in one)."""
    with open(path, "rb") as f:
        if f.read(4) == b"PAR1":
            f.seek(0)
            return parquet_to_frame(f.read(), WHAT, InvalidEvalData, limits=limits)
        if media:
            raise InvalidEvalData(f"{WHAT} must be a Parquet table (encoded files do not fit in a CSV file)")
        f.seek(0)
        return csv_to_frame(f, WHAT, InvalidEvalData, limits=limits)


def _size(n: int) -> str:
    return f"{n / 2**10:,.1f} KiB" if n < 2**20 else mib(n)


def _parse_descriptions(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise gr.Error(
            'Column descriptions must be JSON, e.g. {"age": "in years"}.', print_exception=False
        ) from None
    if not isinstance(value, dict):
        raise gr.Error(
            'Column descriptions must be a JSON object, e.g. {"age": "in years"}.', print_exception=False
        )
    return value


__all__ = ["DataTab", "build_data_tab", "describe", "download_file", "read_table"]
