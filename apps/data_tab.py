"""The Data tab of a playground's app: the training data its owner hands out, the eval features
and a sample submission, to download; for the owner (and co-owners), a form to upload or
replace the training data.

Tables come as Parquet (what the Python client's ``download_data`` and ``get_eval_features``
read) and, for tabular and text playgrounds, as CSV. Image, audio and video files do not fit in a
CSV file, so those playgrounds' data also comes as a zip of the files, one per row, with an
``index.csv`` saying which row each file is: a participant without Python opens it as it is.
What the page prepares on each visit is bounded (:data:`MAX_PAGE_DOWNLOAD_BYTES`); the client
downloads larger data.

``build_data_tab(hub, name, sessions)`` builds it inside the app's ``with gr.Tab("Data")``; the
returned :class:`DataTab`'s ``wire(tab)`` fills it whenever the tab is opened. Callbacks only
turn widget values into service calls (``hub.training_data``) and service errors into
``gr.Error``; who may do what is the service's to say.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import pandas as pd

from aims_spaces.core.limits import MIB, DecodeLimits, mib
from aims_spaces.core.media import MEDIA_COLUMNS
from aims_spaces.core.tabular import csv_to_frame, frame_to_parquet, parquet_to_frame
from aims_spaces.domain import ColumnType, PlaygroundInfo
from aims_spaces.errors import InvalidEvalData
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller
from aims_spaces.hub.training_data import TrainingDataInfo

from .session import Sessions, plain_errors
from .tables import md_text

T = TypeVar("T")

SHOWN_COLUMNS = 200  # a table of thousands of columns says less than its first few hundred
WHAT = "the training data file"
# The most data the page prepares for its download buttons, in memory, each time the tab opens.
MAX_PAGE_DOWNLOAD_BYTES = 256 * MIB
FILES = {ColumnType.IMAGE: "images", ColumnType.AUDIO: "sounds", ColumnType.VIDEO: "videos"}
EXAMPLE_SUFFIX = {ColumnType.IMAGE: "png", ColumnType.AUDIO: "wav", ColumnType.VIDEO: "mp4"}


_guard = plain_errors


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
        self.kind = MEDIA_COLUMNS.get(structure.input_type)

        self.summary = gr.Markdown("Loading the playground's data…")
        with gr.Row():
            self.train_parquet = gr.DownloadButton("Training data (Parquet)", visible=False, size="sm")
            # Encoded media files do not fit in a CSV file: they come as a zip of files instead.
            self.train_csv = (
                None if self.media else gr.DownloadButton("Training data (CSV)", visible=False, size="sm")
            )
            self.train_zip = self._zip_button("Training data")
            self.eval_features = gr.DownloadButton("Eval features (Parquet)", visible=False, size="sm")
            self.eval_zip = self._zip_button("Eval features")
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
                self.train_zip,
                self.eval_features,
                self.eval_zip,
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
        notes = []
        if info is not None:
            frame = _guard(lambda: service.download(caller, self.name))
            if _too_large(frame):
                notes.append(_too_large_note("training data", frame, "pg.download_data()"))
            else:
                out[self.train_parquet] = self._file(f"{self.name}-train.parquet", frame_to_parquet(frame))
                if self.train_csv is not None:
                    csv = frame.to_csv(index=False).encode()
                    out[self.train_csv] = self._file(f"{self.name}-train.csv", csv)
                if self.train_zip is not None and self.kind is not None:
                    data = media_zip(frame, self.kind, target=info.target)
                    out[self.train_zip] = self._file(f"{self.name}-train.zip", data)
        if pg.has_eval_features:
            features = _guard(lambda: self.hub.playgrounds.eval_features(caller, self.name))
            if _too_large(features):
                notes.append(_too_large_note("eval features", features, "pg.get_eval_features()"))
            else:
                out[self.eval_features] = self._file(
                    f"{self.name}-eval-features.parquet", frame_to_parquet(features)
                )
                if self.eval_zip is not None and self.kind is not None:
                    data = media_zip(features, self.kind)
                    out[self.eval_zip] = self._file(f"{self.name}-eval-features.zip", data)
        out[self.summary] = "\n\n".join([describe(info, pg, manages=manages), *notes])
        out[self.owner_form] = gr.update(visible=manages)
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
        return self.sessions.need(request)

    def _file(self, filename: str, data: bytes) -> Any:
        return gr.update(value=str(download_file(self.hub, filename, data)), visible=True)

    def _zip_button(self, what: str) -> gr.DownloadButton | None:
        if self.kind is None:
            return None
        return gr.DownloadButton(f"{what} (zip of {FILES[self.kind]} + index.csv)", visible=False, size="sm")


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
    kind = MEDIA_COLUMNS.get(pg.input_type)
    if kind is not None:
        predictions += (
            f" The zips hold one file per row (`{_file_name(0, EXAMPLE_SUFFIX[kind])}`, …) and "
            "`index.csv`, which lists the files in row order (and the training data's target)."
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


def media_zip(frame: pd.DataFrame, kind: ColumnType, *, target: str | None = None) -> bytes:
    """A table with one column of encoded files as a zip: the files, named by their row
    (``00000.png``, in row order, so sorting them by name keeps it), and ``index.csv`` with the
    columns ``row``, the media column (each row's file name, empty for a row without a file) and
    ``target`` when given."""
    media = next(c for c in frame.columns if c != target)
    names = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for row, data in enumerate(frame[media].tolist()):
            if not isinstance(data, bytes | bytearray) or not data:
                names.append("")  # a missing cell: no file, and the index says so
                continue
            suffix = _suffix(data, kind)
            names.append(_file_name(row, suffix))
            # Most media formats are compressed already; WAV and BMP files are not.
            method = zipfile.ZIP_DEFLATED if suffix in ("wav", "bmp") else zipfile.ZIP_STORED
            archive.writestr(names[-1], data, compress_type=method)
        index = pd.DataFrame({"row": range(len(names)), media: names})
        if target is not None:
            index[target] = frame[target].to_numpy()
        archive.writestr("index.csv", index.to_csv(index=False), compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _file_name(row: int, suffix: str) -> str:
    return f"{row:05d}.{suffix}"


# File name suffixes by the files' first bytes (the formats the hub's decoders take).
_SUFFIXES: dict[ColumnType, list[tuple[str, Callable[[bytes], bool]]]] = {
    ColumnType.IMAGE: [
        ("png", lambda d: d.startswith(b"\x89PNG\r\n\x1a\n")),
        ("jpg", lambda d: d.startswith(b"\xff\xd8\xff")),
        ("gif", lambda d: d[:6] in (b"GIF87a", b"GIF89a")),
        ("webp", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP"),
        ("bmp", lambda d: d.startswith(b"BM")),
        ("tif", lambda d: d[:4] in (b"II*\x00", b"MM\x00*")),
    ],
    ColumnType.AUDIO: [
        ("wav", lambda d: d[:4] in (b"RIFF", b"RIFX", b"RF64") and d[8:12] == b"WAVE"),
        ("flac", lambda d: d.startswith(b"fLaC")),
        ("ogg", lambda d: d.startswith(b"OggS")),
    ],
    ColumnType.VIDEO: [
        ("avi", lambda d: d[:4] == b"RIFF" and d[8:12] in (b"AVI ", b"AVIX")),
        ("mkv", lambda d: d.startswith(b"\x1a\x45\xdf\xa3")),
        ("mp4", lambda d: d[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")),
    ],
}


def _suffix(data: bytes, kind: ColumnType) -> str:
    return next((suffix for suffix, matches in _SUFFIXES[kind] if matches(data)), "bin")


def _too_large(frame: pd.DataFrame) -> bool:
    return int(frame.memory_usage(index=False, deep=True).sum()) > MAX_PAGE_DOWNLOAD_BYTES


def _too_large_note(what: str, frame: pd.DataFrame, call: str) -> str:
    size = int(frame.memory_usage(index=False, deep=True).sum())
    return (
        f"The {what} take {mib(size)}, more than this page prepares ({mib(MAX_PAGE_DOWNLOAD_BYTES)}): "
        f"download them with the Python client, `{call}`."
    )


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


__all__ = ["DataTab", "build_data_tab", "describe", "download_file", "media_zip", "read_table"]
