"""The hub's front page: the playgrounds a visitor (or the signed-in user) can see, found by a
search, and for a signed-in user a form that creates a playground from uploaded files.

Callbacks only turn widget values into service calls (``hub.playgrounds.list`` and ``create``)
and service errors into ``gr.Error``; who may see or create what is the service's rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import pandas as pd

from aims_spaces.core.archives import media_column_from_zip
from aims_spaces.core.media import MEDIA_COLUMNS
from aims_spaces.core.tabular import csv_to_frame, parquet_to_frame
from aims_spaces.domain import (
    DEFAULT_METRIC,
    Board,
    InputType,
    Metric,
    PlaygroundInfo,
    PlaygroundSpec,
    TaskType,
    parse_enum,
)
from aims_spaces.errors import AimsError, InvalidEvalData, InvalidSpec
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller

from . import tables
from .session import Sessions, cache_policy, plain_errors

T = TypeVar("T")

_PARQUET = b"PAR1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # a zip's first bytes (the last: spanned)
_DEFAULTS = {name: field.default for name, field in PlaygroundSpec.model_fields.items()}
_DEADLINE_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


_guard = plain_errors


def metric_choices(task: str) -> list[tuple[str, str]]:
    """The metrics that fit a task, as (label, value) pairs for a dropdown."""
    wanted = TaskType(task)
    return [(m.label, m.value) for m in Metric if m.task_type is wanted]


def parse_deadline(text: str | None) -> datetime | None:
    """``"YYYY-MM-DD HH:MM"`` (or a date alone: midnight) in UTC; empty means no deadline."""
    text = (text or "").strip()
    if not text:
        return None
    for form in _DEADLINE_FORMATS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise InvalidSpec(
        f"the deadline {text[:40]!r} is not a date; write it as YYYY-MM-DD HH:MM in UTC, "
        "e.g. 2026-12-24 18:00"
    )


def _whole(value: float | None, what: str, default: int) -> int:
    if value is None:
        return default
    if float(value) != int(value):
        raise InvalidSpec(f"{what} must be a whole number, got {value:g}")
    return int(value)


def read_table(path: str, what: str, hub: Hub) -> pd.DataFrame:
    """An uploaded CSV or Parquet file as a table, read within the hub's limits (Parquet is
    recognised by its first bytes, whatever the file is called)."""
    limits = hub.settings.decode_limits
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == _PARQUET:
            return parquet_to_frame(f.read(), what, InvalidEvalData, limits=limits)
        if head.startswith(_ZIP):
            raise InvalidEvalData(f"{what} is a zip archive; give a CSV or Parquet table")
        if Path(path).suffix.lower() in (".parquet", ".pq"):
            raise InvalidEvalData(f"{what} is not a Parquet file (it does not start with PAR1)")
        return csv_to_frame(f, what, InvalidEvalData, limits=limits)


def read_inputs(path: str, what: str, input_type: InputType, hub: Hub) -> pd.DataFrame:
    """Uploaded eval features (or example data): a CSV or Parquet table for tabular and text
    playgrounds; for image, audio and video ones a zip of media files, one per row in the
    sorted order of their names (or a Parquet table of encoded files)."""
    kind = MEDIA_COLUMNS.get(input_type)
    if kind is None:
        return read_table(path, what, hub)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _PARQUET:
        return read_table(path, what, hub)
    if not head.startswith(_ZIP):
        raise InvalidEvalData(
            f"{what} must be a .zip of {kind.value} files (one per eval row, in the order of their "
            "names) or a Parquet table of encoded files"
        )
    settings = hub.settings
    limits = settings.decode_limits
    files = media_column_from_zip(
        Path(path).read_bytes(),
        max_files=limits.max_table_rows,
        max_total_bytes=settings.max_upload_bytes,
        max_file_bytes=limits.bytes_of("max_media_mb"),
        what=what,
        settings={
            "max_files": "AIMS_MAX_TABLE_ROWS",
            "max_total_bytes": "AIMS_MAX_UPLOAD_MB",
            "max_file_bytes": "AIMS_MAX_MEDIA_MB",
        },
    )
    return pd.DataFrame({kind.value: pd.Series(files, dtype=object)})


FRONT_PAGE_ROWS = 60


class FrontPage:
    """The callbacks of the front page, bound to the hub's services."""

    def __init__(self, hub: Hub, sessions: Sessions) -> None:
        self.hub = hub
        self.sessions = sessions

    def page(self, request: gr.Request) -> tuple[str, Any, Any]:
        """The header, and what only a signed-in user sees (the create form, "my playgrounds")."""
        caller = self.sessions.of(request)
        if caller is None:
            who = "Visitor · [Log in](/login?next=/)"
            if self.hub.settings.open_signup:
                who += " · [Sign up](/signup)"
        else:
            who = (
                f"Logged in as **{tables.md_text(caller.username)}** · [Account](/account) · "
                "[Log out](/logout?next=/)"
            )
        shown = gr.update(visible=caller is not None)
        return who, shown, shown

    def playgrounds(self, search: str | None, mine: bool | None, request: gr.Request) -> str:
        """The listing: the playgrounds the caller may see that match the search (and, when
        asked, only the caller's own), with their best scores and deployed versions."""
        caller = self.sessions.of(request)
        return self.listing(caller, search or "", bool(mine))

    def listing(self, caller: Caller | None, search: str, mine: bool) -> str:
        infos = [
            info for info in self.hub.playgrounds.list(caller) if tables.playground_matches(info, search)
        ]
        if mine:
            infos = [info for info in infos if caller is not None and tables.is_mine(info, caller.username)]
        # Each row's best score is a board build: only the rows shown are built (a hub with
        # 1,000 playgrounds took seconds per page otherwise, see docs/benchmarks.md).
        shown = infos[:FRONT_PAGE_ROWS]
        serving = self.hub.deployments.serving_versions([i.name for i in shown]) if shown else {}
        rows = [(info, self.best(caller, info), serving.get(info.name)) for info in shown]
        if search.strip() or mine:
            empty = "No playgrounds match." if search.strip() else "You are in no playground yet."
        else:
            empty = "No playgrounds yet."
        more = ""
        if len(infos) > len(shown):
            more = (
                f"<p>Showing {len(shown):,} of {len(infos):,} playgrounds: search by name, owner or "
                "description to find the others.</p>"
            )
        return tables.playground_cards(rows, empty=empty) + more

    def best(self, caller: Caller | None, info: PlaygroundInfo) -> float | None:
        """The best score the caller may see: on the experiment board, else the competition's
        public board."""
        for board_kind in (Board.EXPERIMENT, Board.COMPETITION):
            try:
                board = self.hub.leaderboards.get(caller, info.name, board_kind.value, metadata=False)
            except AimsError:  # deleted meanwhile, or not visible after all: no score to show
                return None
            if board.rows:
                return board.rows[0].scores.get(board.metric.value)
        return None

    def create(
        self,
        name: str,
        description: str,
        input_type: str,
        task: str,
        metric: str,
        shown: list[str] | None,
        public_fraction: float,
        private: bool,
        daily_limit: float | None,
        deadline: str,
        final_selections: float | None,
        team_size_limit: float | None,
        labels_file: str | None,
        features_file: str | None,
        example_file: str | None,
        search: str | None,
        mine: bool | None,
        request: gr.Request,
    ) -> tuple[str, str]:
        """Create a playground from the form; answer with its link and the refreshed listing."""
        caller = self.sessions.of(request)
        if caller is None:
            raise gr.Error("Log in to create a playground.", print_exception=False)
        if not labels_file:
            raise gr.Error("Choose the eval labels file (CSV or Parquet, one column).", print_exception=False)
        info = _guard(
            lambda: self.create_as(
                caller,
                name=(name or "").strip(),
                description=description or "",
                input_type=input_type,
                task=task,
                metric=metric,
                shown=shown,
                public_fraction=public_fraction,
                private=private,
                daily_limit=daily_limit,
                deadline=deadline,
                final_selections=final_selections,
                team_size_limit=team_size_limit,
                labels_file=labels_file,
                features_file=features_file,
                example_file=example_file,
            )
        )
        link = f"/p/{info.name}/"
        message = f"Created — open it at [{tables.md_text(link)}]({link})"
        return message, self.listing(caller, search or "", bool(mine))

    def create_as(
        self,
        caller: Caller,
        *,
        name: str,
        description: str,
        input_type: str,
        task: str,
        metric: str,
        shown: list[str] | None,
        public_fraction: float,
        private: bool,
        daily_limit: float | None,
        deadline: str,
        final_selections: float | None,
        team_size_limit: float | None,
        labels_file: str,
        features_file: str | None,
        example_file: str | None,
    ) -> PlaygroundInfo:
        """The form's values and uploaded files (paths in Gradio's cache) as one
        ``hub.playgrounds.create`` call; every file is read within the hub's limits first, so a
        bad one leaves nothing behind.

        Raises:
            AimsError: a form value, a file or the service refused.
        """
        kind = parse_enum(InputType, input_type, "input type")
        spec = PlaygroundSpec(
            name=name,
            input_type=kind.value,
            task_type=task,
            private=bool(private),
            description=description,
            eval_metric=metric or None,
            public_fraction=float(public_fraction),
            daily_submission_limit=_whole(
                daily_limit, "the daily submission limit", self.hub.settings.daily_submission_limit
            ),
            competition_deadline=parse_deadline(deadline),
            final_selections=_whole(final_selections, "final selections", _DEFAULTS["final_selections"]),
            team_size_limit=_whole(team_size_limit, "the team size limit", _DEFAULTS["team_size_limit"]),
            shown_metrics=list(shown) if shown else None,
        )
        labels = read_table(labels_file, "the eval labels file", self.hub)
        if labels.shape[1] != 1:
            raise InvalidEvalData(
                f"the eval labels file has {labels.shape[1]} columns; give exactly one (the label of "
                "each eval row)"
            )
        features = (
            read_inputs(features_file, "the eval features file", kind, self.hub) if features_file else None
        )
        example = read_inputs(example_file, "the example data file", kind, self.hub) if example_file else None
        return self.hub.playgrounds.create(
            caller, spec, eval_labels=labels.iloc[:, 0], eval_features=features, example_data=example
        )


def _metric_update(task: str) -> tuple[Any, Any]:
    choices = metric_choices(task)
    return (
        gr.update(choices=choices, value=DEFAULT_METRIC[TaskType(task)].value),
        gr.update(choices=choices, value=[]),
    )


def build_hub_app(hub: Hub, sessions: Sessions | None = None) -> gr.Blocks:
    ui = FrontPage(hub, sessions or Sessions(hub))
    task0 = TaskType.CLASSIFICATION.value
    table_files = [".csv", ".parquet"]

    with gr.Blocks(title="aims_spaces", delete_cache=cache_policy(hub)) as demo:
        with gr.Row():
            gr.Markdown(
                "# aims_spaces\nPlaygrounds for collaborative machine learning: submit models, "
                "compare them on held-out data, deploy the best in one line."
            )
            who = gr.Markdown()
        with gr.Accordion("Create a playground", open=False, visible=False) as create_box:
            gr.Markdown(
                "The eval labels stay on the hub; members download the eval features and submit "
                "models or predictions. The files go up once, when you press **Create playground**."
            )
            with gr.Row():
                name = gr.Textbox(label="name", placeholder="lowercase letters, digits, - or _", scale=2)
                input_type = gr.Dropdown(
                    [t.value for t in InputType], value=InputType.TABULAR.value, label="input type", scale=1
                )
                task = gr.Radio([t.value for t in TaskType], value=task0, label="task", scale=1)
            description = gr.Textbox(label="description (Markdown)", lines=4)
            with gr.Row():
                metric = gr.Dropdown(
                    metric_choices(task0), value=DEFAULT_METRIC[TaskType(task0)].value, label="ranking metric"
                )
                shown = gr.Dropdown(
                    metric_choices(task0), value=[], multiselect=True, label="extra metric columns"
                )
            with gr.Row():
                public_fraction = gr.Slider(
                    0.05, 1.0, value=0.5, step=0.05, label="public fraction (rows scoring the public board)"
                )
                private = gr.Checkbox(label="private (members only)", value=False)
            with gr.Row():
                daily_limit = gr.Number(
                    value=hub.settings.daily_submission_limit, precision=0, label="daily submission limit"
                )
                deadline = gr.Textbox(label="deadline (UTC, YYYY-MM-DD HH:MM, optional)")
                final_selections = gr.Number(
                    value=_DEFAULTS["final_selections"], precision=0, label="final selections"
                )
                team_size_limit = gr.Number(
                    value=_DEFAULTS["team_size_limit"], precision=0, label="team size limit"
                )
            with gr.Row():
                labels_file = gr.File(
                    label="eval labels (CSV or Parquet, one column)", file_types=table_files, type="filepath"
                )
                features_file = gr.File(
                    label="eval features (CSV or Parquet; a .zip of files for image, audio, video)",
                    file_types=[*table_files, ".zip"],
                    type="filepath",
                )
                example_file = gr.File(
                    label="example data, optional (as the features)",
                    file_types=[*table_files, ".zip"],
                    type="filepath",
                )
            create_btn = gr.Button("Create playground", variant="primary")
            created = gr.Markdown()
        with gr.Row():
            search = gr.Textbox(
                label="Search", placeholder="name, description or owner", scale=4, show_label=False
            )
            mine = gr.Checkbox(label="my playgrounds", value=False, visible=False, scale=1)
        table = gr.HTML()
        gr.Markdown("REST API: [/docs](/docs) · Python client: `from aims_spaces import ModelPlayground`")

        demo.load(ui.page, outputs=[who, create_box, mine], api_visibility="private")
        demo.load(ui.playgrounds, inputs=[search, mine], outputs=table, api_name="playgrounds")
        search.change(
            ui.playgrounds,
            inputs=[search, mine],
            outputs=table,
            api_visibility="private",
            trigger_mode="always_last",
        )
        mine.change(ui.playgrounds, inputs=[search, mine], outputs=table, api_visibility="private")
        task.change(_metric_update, inputs=task, outputs=[metric, shown], api_visibility="private")
        create_btn.click(
            ui.create,
            inputs=[
                name,
                description,
                input_type,
                task,
                metric,
                shown,
                public_fraction,
                private,
                daily_limit,
                deadline,
                final_selections,
                team_size_limit,
                labels_file,
                features_file,
                example_file,
                search,
                mine,
            ],
            outputs=[created, table],
            api_visibility="private",
        )
    return demo
