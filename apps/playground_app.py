"""One playground as a Gradio app with tabs: Overview, Experiments, Competition, Submit,
Compare, Model, Demo and API.

``build_playground_app(hub, name)`` builds it from the service layer; the hub serves one per
playground under ``/p/<name>/``, and ``python -m apps.playground_app NAME`` launches one on its
own, Space-style. Callbacks only turn widget values into service calls and service errors into
``gr.Error``; every rule (access, quotas, validation) lives in the service layer.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import inspect
import json
import keyword
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import gradio as gr
import httpx
import pandas as pd

from aims_spaces.core.frames import standings_frame
from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.retry import while_loading
from aims_spaces.core.skops_audit import skops_class_name
from aims_spaces.core.tabular import csv_to_frame, parquet_to_frame
from aims_spaces.domain import (
    Board,
    Column,
    ColumnType,
    Metric,
    PlaygroundInfo,
    SubmissionMeta,
    SubmissionStatus,
    SubmissionType,
    TaskType,
)
from aims_spaces.errors import (
    AimsError,
    InvalidEvalData,
    InvalidModel,
    InvalidPredictions,
    ModelLoading,
    TeamNotFound,
    public_message,
)
from aims_spaces.hub import Hub
from aims_spaces.hub.access import Caller
from aims_spaces.hub.submissions import SubmissionUpload, original_format

from . import tables
from .data_tab import build_data_tab, download_file
from .session import Sessions, cache_policy, plain_errors

log = logging.getLogger(__name__)
T = TypeVar("T")

SUBMIT_WAIT_S = 120
TOP_ROWS = 1000
CSS = """
.aims-compare table, .aims-playgrounds { border-collapse: collapse; font-size: 0.9em; }
.aims-compare td, .aims-compare th, .aims-playgrounds td, .aims-playgrounds th
  { border: 1px solid #ddd; padding: 4px 8px; text-align: left; }
"""


_guard = plain_errors


class PlaygroundUI:
    """The callbacks of one playground's app, bound to the hub's services."""

    def __init__(
        self, hub: Hub, name: str, sessions: Sessions, serve_url: str | None, hub_url: str = ""
    ) -> None:
        self.hub = hub
        self.name = name
        self.sessions = sessions
        self.serve_url = serve_url
        self.hub_url = hub_url
        # The metric columns the page's pickers were built with (see page()).
        self.built_metrics: list[Metric] | None = None

    def caller(self, request: gr.Request | None) -> Caller | None:
        return self.sessions.of(request)

    def need_login(self, request: gr.Request | None) -> Caller:
        return self.sessions.need(request)

    def info(self, caller: Caller | None) -> PlaygroundInfo:
        return self.hub.playgrounds.overview(caller, self.name)

    # --- header and overview ---------------------------------------------------------------

    def page(self, request: gr.Request) -> tuple[Any, ...]:
        """Everything about the page that depends on who is looking, in one round trip."""
        caller = self.caller(request)
        info = _guard(lambda: self.info(caller))
        who = (
            f"Logged in as **{caller.username}** · [Account](/account) · "
            f"[Log out](/logout?next=/p/{self.name}/)"
            if caller
            else f"Visitor · [Log in](/login?next=/p/{self.name}/)"
        )
        owner = caller is not None and (
            caller.is_admin or caller.username == info.owner or caller.username in info.co_owners
        )
        show = gr.update(visible=owner)
        picker = self._picker(info)
        return (
            f"[← all playgrounds](/) · {who}",
            show,
            show,
            show,
            _members(info),
            self.runtime(),
            picker,
            picker,
        )

    def _picker(self, info: PlaygroundInfo) -> Any:
        """The owner may have changed the board's metric columns since the page was built: the
        pickers follow (left alone otherwise, so opening the page re-sorts no board)."""
        if self.built_metrics is None or list(info.shown_metrics) == self.built_metrics:
            return gr.update()
        choices, picked = tables.metric_choices(info.shown_metrics)
        return gr.update(choices=choices, value=picked)

    def picker(self, request: gr.Request) -> Any:
        """The Competition tab's picker, when the tab is opened (a tab not yet shown misses the
        page's load-time update)."""
        return self._picker(_guard(lambda: self.info(self.caller(request))))

    def add_member(self, username: str, role: str, request: gr.Request) -> str:
        caller = self.need_login(request)
        info = _guard(
            lambda: self.hub.playgrounds.add_member(caller, self.name, username.strip(), role or "member")
        )
        gr.Info(f"{username.strip()} is now a {role or 'member'}")
        return _members(info)

    def invite(self, hours: float, uses: float, domain: str, request: gr.Request) -> str:
        """A new invitation link, shown once."""
        caller = self.need_login(request)
        link = _guard(
            lambda: self.hub.invitations.create(
                caller,
                self.name,
                expires_in_hours=float(hours or 168),
                max_uses=int(uses or 50),
                email_domain=(domain or "").strip() or None,
            )
        )
        where = f"{self.hub_url}{link.path}"
        return (
            f"Invitation link (shown once; {link.max_uses} uses, until "
            f"{link.expires_at:%Y-%m-%d %H:%M} UTC):\n\n`{where}`"
        )

    def remove_member(self, username: str, request: gr.Request) -> str:
        caller = self.need_login(request)
        info = _guard(lambda: self.hub.playgrounds.remove_member(caller, self.name, username.strip()))
        gr.Info(f"{username.strip()} is no longer a member")
        return _members(info)

    # --- pages the owner edits ----------------------------------------------------------------

    def overview(self, request: gr.Request) -> str:
        return _overview(_guard(lambda: self.info(self.caller(request))))

    def page_source(self, page: str, request: gr.Request) -> str:
        """The Markdown of one page, for the owner's editor (empty for anyone else)."""
        caller = self.caller(request)
        if caller is None:
            return ""
        try:
            info = self.hub.playgrounds.get(caller, self.name)
        except AimsError:
            return ""
        if caller.username != info.owner and caller.username not in info.co_owners and not caller.is_admin:
            return ""
        return info.description if page == "overview" else info.pages.get(page, "")

    def save_page(self, page: str, text: str, request: gr.Request) -> tuple[str, str]:
        caller = self.need_login(request)
        if page not in PAGE_NAMES:
            raise gr.Error("Pick a page.", print_exception=False)
        if page == "overview":
            info = _guard(lambda: self.hub.editing.update(caller, self.name, description=text or ""))
        else:
            info = _guard(lambda: self.hub.editing.update(caller, self.name, pages={page: text or ""}))
        return _overview(info), f"The {page} page is saved."

    def save_private(self, private: bool, request: gr.Request) -> tuple[str, str]:
        caller = self.need_login(request)
        info = _guard(lambda: self.hub.editing.update(caller, self.name, private=bool(private)))
        return _overview(info), f"The playground is now **{'private' if info.private else 'public'}**."

    def replace_labels(self, path: str | None, request: gr.Request) -> tuple[str, str]:
        caller = self.need_login(request)
        if not path:
            raise gr.Error("Choose a file of labels first.", print_exception=False)
        limits = self.hub.settings.decode_limits
        frame = _guard(lambda: _read_table(path, "the labels file", limits))
        if frame.shape[1] != 1:
            raise gr.Error(f"The labels file has {frame.shape[1]} columns; give one.", print_exception=False)
        info = _guard(lambda: self.hub.editing.replace_data(caller, self.name, eval_labels=frame.iloc[:, 0]))
        return _overview(info), "The labels are replaced; every scored submission is being scored again."

    # --- leaderboards ----------------------------------------------------------------------

    def leaderboard(
        self, details: bool, show_all: bool, columns: list[str] | None, request: gr.Request
    ) -> tuple[dict[str, Any], str]:
        """The experiment board (``columns``: the metric columns picked; None: the first few)."""
        caller = self.caller(request)
        board = _guard(
            lambda: self.hub.leaderboards.get(caller, self.name, Board.EXPERIMENT.value, metadata=details)
        )
        frame, shown = _top(self._board_table(board, details, columns), show_all)
        return frame.value(), " ".join(p for p in (shown, tables.hidden_note(board), _rescored(board)) if p)

    def _board_table(self, board: Any, details: bool, columns: list[str] | None) -> tables.Table:
        serving = self.hub.deployments.serving_versions([self.name]).get(self.name)
        decimals = self.hub.settings.score_decimals
        return tables.board_table(
            board, details=details, serving_version=serving, columns=columns, decimals=decimals
        )

    def trend(self, request: gr.Request) -> Any:
        """The best score over time, with axes that read (dates and times, distinct score ticks)."""
        caller = self.caller(request)
        board = _guard(
            lambda: self.hub.leaderboards.get(caller, self.name, Board.EXPERIMENT.value, metadata=False)
        )
        frame = tables.best_over_time(board)
        axes = tables.trend_axes(frame, board.metric, self.hub.settings.score_decimals)
        return gr.update(value=frame, **axes)

    def competition(
        self, details: bool, show_all: bool, columns: list[str] | None, request: gr.Request
    ) -> tuple[dict[str, Any], str, str]:
        caller = self.caller(request)
        board = _guard(
            lambda: self.hub.leaderboards.get(caller, self.name, Board.COMPETITION.value, metadata=details)
        )
        frame, shown = _top(self._board_table(board, details, columns), show_all)
        shown = " ".join(p for p in (shown, tables.hidden_note(board)) if p)
        info = _guard(lambda: self.info(caller))
        notes = [_dates(info) + "\n\n", _rescored(board)]
        if info.competition.is_closed:
            notes.append("The competition is **closed**: ranked by the private rows.")
        else:
            notes.append("Ranked on the **public** rows; the private rows stay hidden until the close.")
        if board.shows_private and not info.competition.is_closed:
            notes.append("As the owner you also see the private scores.")
        if caller is not None:
            try:
                q = self.hub.playgrounds.quota(caller, self.name)
                notes.append(f"You have **{q.remaining} of {q.limit}** competition submissions left today.")
            except AimsError:
                pass
        return frame.value(), shown, " ".join(notes)

    def close_competition(self, request: gr.Request) -> str:
        caller = self.need_login(request)
        _guard(lambda: self.hub.playgrounds.update_competition(caller, self.name, close=True))
        return "The competition is **closed**: ranked by the private rows."

    def standings(self, request: gr.Request) -> Any:
        """The standings as a CSV file for the download button."""
        caller = self.caller(request)
        board = _guard(
            lambda: self.hub.leaderboards.get(caller, self.name, Board.COMPETITION.value, metadata=False)
        )
        data = standings_frame(board).to_csv(index=False).encode()
        return str(download_file(self.hub, f"{self.name}-standings.csv", data))

    # --- teams and final entries -------------------------------------------------------------

    def team_panel(self, request: gr.Request) -> tuple[str, Any]:
        """The caller's team and entries, with the final ones ticked; a line to log in for visitors."""
        caller = self.caller(request)
        if caller is None:
            return "[Log in](/login) to form a team or choose your final entries.", gr.update(
                choices=[], value=[]
            )
        try:
            team = self.hub.teams.mine(caller, self.name)
            line = f"Your team **{tables.md_text(team.name)}**: {', '.join(team.members)}."
        except TeamNotFound:
            line = "You compete on your own. Make a team, or join one with the code a teammate gives you."
        except AimsError as e:  # not a member of this private playground, for one
            return public_message(e.message), gr.update(choices=[], value=[])
        try:
            entries = self.hub.teams.entries(caller, self.name)
            info = self.info(caller)
        except AimsError as e:
            return public_message(e.message), gr.update(choices=[], value=[])
        metric = info.eval_metric.value
        choices, chosen = [], []
        for e in entries:
            if e.status is not SubmissionStatus.SCORED or e.submission_type is SubmissionType.EXPERIMENT:
                continue
            score = (e.scores.get("public") or e.scores.get("all") or {}).get(metric)
            label = f"v{e.version} · {metric} {tables.fmt(score)} · by {e.username}"
            choices.append((label, str(e.version)))
            if e.selected:
                chosen.append(str(e.version))
        n = info.competition.final_selections
        line += (
            f" Tick up to **{n}** final entr{'y' if n == 1 else 'ies'} for the private standing; "
            "without a choice your best public ones count."
        )
        return line, gr.update(choices=choices, value=chosen)

    def create_team(self, team: str, request: gr.Request) -> tuple[str, Any]:
        caller = self.need_login(request)
        made = _guard(lambda: self.hub.teams.create(caller, self.name, (team or "").strip()))
        line, entries = self.team_panel(request)
        return (
            f"{line}\n\nTeam made. Teammates join with the code **`{made.join_code}`** (shown once).",
            entries,
        )

    def join_team(self, code: str, request: gr.Request) -> tuple[str, Any]:
        caller = self.need_login(request)
        _guard(lambda: self.hub.teams.join(caller, self.name, (code or "").strip()))
        return self.team_panel(request)

    def leave_team(self, request: gr.Request) -> tuple[str, Any]:
        caller = self.need_login(request)
        _guard(lambda: self.hub.teams.leave(caller, self.name))
        return self.team_panel(request)

    def select_final(self, versions: list[str], request: gr.Request) -> tuple[str, Any]:
        caller = self.need_login(request)
        try:
            numbers = [int(v) for v in versions or []]
        except ValueError:
            raise gr.Error("Pick versions from the list.", print_exception=False) from None
        chosen = _guard(lambda: self.hub.teams.select_final(caller, self.name, numbers))
        line, entries = self.team_panel(request)
        picked = ", ".join(f"v{c.version}" for c in chosen) or "none (your best public entries count)"
        return f"{line}\n\nFinal entries saved: **{picked}**.", entries

    # --- submit ------------------------------------------------------------------------------

    def submit(
        self,
        model_file: str | None,
        predictions_file: str | None,
        submission_type: str,
        description: str,
        custom: str,
        original_file: str | None,
        request: gr.Request,
        *,
        preprocessor_file: str | None = None,
        **preprocessor_fields: Any,
    ) -> Iterator[tuple[str, Any]]:
        """Upload the Submit tab's files and wait for the score. On image, audio and video
        playgrounds the preprocessor comes as a spec file or the form's fields (see
        :class:`apps.preprocessor_form.PreprocessorForm`); elsewhere there is none."""
        from .preprocessor_form import FILE_PARAM, submitted_document

        caller = self.need_login(request)
        empty = gr.update(value=pd.DataFrame(), visible=False)  # no table of numbered columns
        try:
            custom_metadata = json.loads(custom) if custom and custom.strip() else {}
        except json.JSONDecodeError as e:
            raise gr.Error(
                f'Custom metadata must be JSON, e.g. {{"team": "a"}}: {e}', print_exception=False
            ) from None
        if not isinstance(custom_metadata, dict):
            raise gr.Error('Custom metadata must be a JSON object, e.g. {"team": "a"}', print_exception=False)
        if not model_file and not predictions_file:
            raise gr.Error("Choose an ONNX model file, a predictions CSV, or both.", print_exception=False)
        meta = SubmissionMeta(
            submission_type=submission_type, description=description or "", custom_metadata=custom_metadata
        )
        limits = self.hub.settings.decode_limits
        document = None
        preprocessor = {FILE_PARAM: preprocessor_file, **preprocessor_fields}
        if model_file and (preprocessor_file or preprocessor_fields):
            input_type = _guard(lambda: self.info(caller)).input_type
            document = _guard(lambda: submitted_document(input_type, preprocessor, limits))
        elif preprocessor_file:
            raise gr.Error(
                "A preprocessor goes with a model: choose the .onnx model file too.", print_exception=False
            )
        upload = _guard(lambda: _upload(meta, model_file, original_file, predictions_file, limits, document))
        info = _guard(lambda: self.hub.submissions.submit(caller, self.name, upload))
        yield f"Version **{info.version}** accepted; scoring…", empty
        deadline = time.monotonic() + SUBMIT_WAIT_S
        version = info.version
        while not info.status.finished and time.monotonic() < deadline:
            time.sleep(0.2)
            info = _guard(lambda: self.hub.submissions.get(caller, self.name, version))
        if info.status is SubmissionStatus.FAILED:
            yield f"Version **{info.version}** failed evaluation: {info.error}", empty
            return
        if not info.status.finished:
            yield f"Version **{info.version}** is still being scored; see the leaderboard shortly.", empty
            return
        row = {"version": info.version, "username": info.username, "verified": info.verified}
        for split, scores in info.scores.items():
            for metric, value in scores.items():
                row[f"{split}.{metric}" if split != "all" else metric] = value
        frame = tables.row_frame(row, self.hub.settings.score_decimals)
        yield f"Version **{info.version}** scored.", gr.update(value=frame, visible=True)

    # --- compare and model -------------------------------------------------------------------

    def versions(self, request: gr.Request) -> tuple[Any, Any, Any, str]:
        """The scored versions for the Compare and Model tabs' pickers, and a line in each tab
        for whoever may not list them: opening a tab says why in place, never in an error."""
        caller = self.caller(request)
        nothing = gr.update(choices=[], value=None)
        if caller is None:
            return nothing, nothing, self._login_html("compare versions"), self._login_md("see the versions")
        try:
            subs = self.hub.submissions.list(caller, self.name)
        except AimsError as e:  # not a member of this private playground, for one
            why = html.escape(public_message(e.message), quote=False)
            return nothing, nothing, f"<p>{why}</p>", why
        choices = [str(s.version) for s in subs if s.status is SubmissionStatus.SCORED]
        if not choices:
            none = "No version is scored yet."
            return nothing, nothing, f"<p>{none}</p>", none
        return gr.update(choices=choices), gr.update(choices=choices), gr.update(), ""

    def _login_md(self, what: str) -> str:
        return f"[Log in](/login?next=/p/{quote(self.name)}/) to {what}."

    def _login_html(self, what: str) -> str:
        return f'<p><a href="/login?next=/p/{quote(self.name)}/">Log in</a> to {html.escape(what)}.</p>'

    def compare(self, versions: list[str], request: gr.Request) -> str:
        caller = self.caller(request)
        if caller is None:  # a visitor pressed the button: say so where the table goes
            return self._login_html("compare versions")
        if not versions or len(versions) < 2:
            return "<p>Pick two or more versions.</p>"
        infos = [_guard(lambda v=v: self.hub.submissions.get(caller, self.name, int(v))) for v in versions]
        return tables.comparison_html(infos, decimals=self.hub.settings.score_decimals)

    def model(self, version: str | None, request: gr.Request) -> tuple[Any, Any, Any]:
        """The chosen version's metadata, scores and download; before a choice, none of them
        (an empty table would show numbered columns)."""
        caller = self.caller(request)
        if caller is None or not version:  # a visitor reads why in the tab (see versions)
            no_table = gr.update(value=pd.DataFrame(), visible=False)
            return gr.update(visible=False), no_table, gr.update(value=None, visible=False)
        info = _guard(lambda: self.hub.submissions.get(caller, self.name, int(version)))
        scores = tables.scores_frame(info.scores, self.hub.settings.score_decimals)
        meta = {
            "version": info.version,
            "by": info.username,
            "submitted": info.created_at.isoformat(),
            "type": info.submission_type.value,
            "model_type": info.model_type,
            "framework": info.framework,
            "verified": info.verified,
            "description": info.description,
            "custom": info.custom_metadata,
            "model": info.metadata,
            "onnx": info.onnx_metadata,
        }
        path = None
        if info.has_model:
            try:
                data = self.hub.submissions.artifact(caller, self.name, info.version, "model")
            except AimsError:  # not this caller's file before the close: no download button
                data = None
            if data is not None:
                path = download_file(self.hub, f"{self.name}-v{info.version}.onnx", data)
        return (
            gr.update(value=meta, visible=True),
            gr.update(value=scores, visible=True),
            gr.update(value=str(path) if path else None, visible=path is not None),
        )

    def deploy(self, version: str | None, request: gr.Request) -> tuple[str, str]:
        """Serve ``version``; the Demo tab's line about the runtime model changes with it."""
        caller = self.need_login(request)
        if not version:
            raise gr.Error("Pick a version first.", print_exception=False)
        info = _guard(lambda: self.hub.deployments.deploy(caller, self.name, int(version)))
        return f"Version **{info.version}** is now serving at `{info.predict_url}`.", self.runtime()

    # --- demo --------------------------------------------------------------------------------

    def runtime(self) -> str:
        serving = self.hub.deployments.serving_versions([self.name]).get(self.name)
        if serving is None:
            return "No model is deployed yet; the owner deploys one from the **Model** tab."
        return f"Predictions come from the runtime model, **version {serving}**."

    def predict(self, values: list[Any], request: gr.Request) -> Any:
        """The demo's prediction: the same REST endpoint any client calls. Every input is
        required. A file goes to the model server as it was uploaded: the server decodes it
        within the hub's limits and converts it to what the model takes (sample rate, channels,
        size, colour mode, frames), so the demo and REST callers get the same answer."""
        info = _guard(lambda: self.info(self.caller(request)))
        schema = info.feature_schema
        missing = [c for c, v in zip(schema, values, strict=True) if _blank(v)]
        if missing:
            raise gr.Error(_missing_message(missing), print_exception=False)
        row = {c.name: self._demo_value(c, v) for c, v in zip(schema, values, strict=True)}
        if self.serve_url is None:
            raise gr.Error("This hub runs without a model server.", print_exception=False)
        headers = {}
        token = self.sessions.token_of(request)
        if token:
            headers["Authorization"] = f"Bearer {token}"

        def post() -> httpx.Response:
            resp = httpx.post(
                f"{self.serve_url}/{self.name}/predict", json={"rows": [row]}, headers=headers, timeout=30
            )
            if resp.status_code == 503 and "retry-after" in resp.headers:
                raise ModelLoading(resp.json()["error"]["message"])  # wait for it, as the client does
            return resp

        try:
            resp = while_loading(post)
        except httpx.TransportError:
            raise gr.Error("The model server is not reachable.", print_exception=False) from None
        except ModelLoading as e:
            raise gr.Error(html.escape(e.message, quote=False), print_exception=False) from None
        try:
            body = resp.json()
        except ValueError:  # not the server's JSON answer (a proxy's error page, say)
            raise gr.Error(
                f"The model server answered HTTP {resp.status_code}.", print_exception=False
            ) from None
        if resp.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            if resp.status_code == 404:
                message = "No model is deployed yet."
            text = _about_this_input(str(message or f"HTTP {resp.status_code}"), schema)
            raise gr.Error(html.escape(text, quote=False), print_exception=False)
        if info.task_type is TaskType.REGRESSION:
            return float(body["predictions"][0])
        if "probabilities" in body:
            return body["probabilities"][0]
        return {str(body["predictions"][0]): 1.0}

    def _demo_value(self, column: Column, value: Any) -> Any:
        """One input of the demo's form as the REST API takes it (a file as base64 text)."""
        name = html.escape(repr(column.name), quote=False)
        if column.dtype.media:
            noun = _MEDIA_NOUNS[column.dtype]
            limit = self.hub.settings.max_predict_bytes
            gone = f"The {noun} did not arrive; upload it again."
            try:
                path = Path(value)
                size = path.stat().st_size
            except (OSError, TypeError, ValueError):
                raise gr.Error(gone, print_exception=False) from None
            if size * 4 // 3 + 1024 > limit:  # base64 in a JSON body
                raise gr.Error(
                    f"This {noun} file is {size / 2**20:,.1f} MiB; the model server takes files of up "
                    f"to {(limit - 1024) * 3 / 4 / 2**20:,.1f} MiB.",
                    print_exception=False,
                )
            try:
                data = path.read_bytes()
            except OSError:
                raise gr.Error(gone, print_exception=False) from None
            return base64.b64encode(data).decode()
        if column.dtype is ColumnType.STRING:
            return str(value)
        if isinstance(value, bool):  # a checkbox: true/false count as 1/0
            return float(value)
        text = str(value).strip()
        try:
            number = float(text)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            got = html.escape(repr(text[:40]), quote=False)
            raise gr.Error(f"{name} must be a number, got {got}.", print_exception=False)
        if column.dtype is ColumnType.INT:
            if not number.is_integer():
                got = html.escape(text[:40], quote=False)
                raise gr.Error(f"{name} must be a whole number, got {got}.", print_exception=False)
            return int(number)
        return number


def _upload(
    meta: SubmissionMeta,
    model_file: str | None,
    original_file: str | None,
    predictions_file: str | None,
    limits: DecodeLimits,
    preprocessor: bytes | None = None,
) -> SubmissionUpload:
    """The Submit tab's files as an upload. The hub takes models as ONNX only: a scikit-learn
    original (.skops) may go up beside its ONNX model, where the hub audits it without loading
    it (nothing ties the two files together: the original is for downloading, the score is the
    ONNX model's own); converting one is the client's work (``pg.submit_model(model)``), on the
    participant's machine. ``preprocessor`` is a preprocessor document (data, as the client
    uploads it), which the hub checks against the model."""
    upload = SubmissionUpload(meta=meta, preprocessor=preprocessor)
    if model_file:
        path = Path(model_file)
        suffix = path.suffix.lower()
        if suffix == ".skops":
            raise InvalidModel(
                f"{path.name}: the hub takes models as ONNX. Convert a scikit-learn model where it was "
                "trained, with `ModelPlayground(name=...).submit_model(model)`, or upload its ONNX "
                "file here with the .skops file as the original"
            )
        if suffix != ".onnx":
            raise InvalidModel(f"{path.name}: choose an .onnx model file")
        upload.model = path.read_bytes()
        meta.framework, meta.model_type = "onnx", "onnx"
    if original_file:
        path = Path(original_file)
        if not upload.model:
            raise InvalidModel("an original goes up beside its ONNX model: choose the .onnx file too")
        upload.original = path.read_bytes()
        if original_format(upload.original) == "skops":
            meta.framework, meta.model_type = "sklearn", skops_class_name(upload.original)
    if predictions_file:
        upload.predictions = _read_predictions_csv(predictions_file, limits)
    return upload


PAGE_NAMES = ("overview", "rules", "data", "evaluation")


def _overview(info: PlaygroundInfo) -> str:
    """The Overview tab: the owner's pages (Markdown, which Gradio sanitises) and the facts."""
    c = info.competition
    facts = (
        f"- **task**: {info.task_type.value} on {info.input_type.value} data\n"
        f"- **metric**: {info.eval_metric.label} ({'higher' if info.higher_is_better else 'lower'} is "
        "better), with a 95% bootstrap interval\n"
        f"- **eval data**: {info.n_eval_rows:,} rows; labels stay on the hub\n"
        f"- **competition**: {c.public_fraction:.0%} of the rows score the public board, the rest the "
        f"private board; {c.daily_submission_limit} submissions per participant (or team) per day; "
        f"teams of up to {c.team_size_limit}; {c.final_selections} final "
        f"entr{'y' if c.final_selections == 1 else 'ies'} count\n"
        f"- {_dates(info)}\n"
        f"- **owner**: {info.owner} · **visibility**: {'private' if info.private else 'public'}\n"
    )
    parts = [info.description or "", facts]
    for key, title in (("rules", "Rules"), ("data", "Data"), ("evaluation", "Evaluation")):
        if info.pages.get(key):
            parts.append(f"## {title}\n\n{info.pages[key]}")
    if info.data_changes:
        last = info.data_changes[-1]
        parts.append(
            f"*Changed {last['at'].replace('T', ' ')} UTC by {last['by']}: {last['what']}; every scored "
            "submission was scored again.*"
        )
    return "\n\n".join(p for p in parts if p)


def _read_table(path: str, what: str, limits: DecodeLimits) -> pd.DataFrame:
    """A CSV or Parquet file the owner uploaded (Parquet recognised by its first bytes)."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PAR1":
            return parquet_to_frame(f.read(), what, InvalidEvalData, limits=limits)
        return csv_to_frame(f, what, InvalidEvalData, limits=limits)


def _members(info: PlaygroundInfo) -> str:
    if not info.members:
        return "(none yet)"
    return ", ".join(f"{m} (co-owner)" if m in info.co_owners else m for m in info.members)


def _rescored(board: Any) -> str:
    """A line saying the scores are from after the owner's last change of the eval data."""
    if board.data_changed_at is None:
        return ""
    pending = f" ({board.rescoring} still being scored again)" if board.rescoring else ""
    return f"Scored again after the eval data changed on {board.data_changed_at:%Y-%m-%d %H:%M} UTC{pending}."


def _dates(info: PlaygroundInfo) -> str:
    """The competition's start, deadline and close in one line."""
    c = info.competition

    def when(t: datetime | None) -> str:
        return t.strftime("%Y-%m-%d %H:%M UTC") if t else "—"

    parts = [f"**Started** {when(c.start)}", f"**deadline** {when(c.deadline)}"]
    if c.closed_at:
        parts.append(f"**closed** {when(c.closed_at)}")
    return " · ".join(parts)


def _top(frame: tables.Table, show_all: bool) -> tuple[tables.Table, str]:
    """The best ``TOP_ROWS`` rows unless all are asked for: a browser table of thousands of rows
    costs seconds to draw, and the top of a board is what people read."""
    n = len(frame)
    if show_all or n <= TOP_ROWS:
        return frame, f"{n:,} scored submission{'s' if n != 1 else ''}."
    return frame.head(
        TOP_ROWS
    ), f"The top {TOP_ROWS:,} of {n:,} scored submissions; tick *Show all* for the rest."


def _read_predictions_csv(path: str, limits: DecodeLimits) -> pd.DataFrame:
    with open(path, "rb") as f:
        df = csv_to_frame(f, "the predictions file", InvalidPredictions, limits=limits)
    if df.shape[1] == 1:
        return df
    if "prediction" in df.columns:
        return df[["prediction"]]
    raise InvalidPredictions(
        f"the predictions CSV has {df.shape[1]} columns; give one column (or one named 'prediction')"
    )


def _snippets(hub_url: str, serve_url: str | None, info: PlaygroundInfo, example: pd.DataFrame | None) -> str:
    name = info.name
    media = [c for c in info.feature_schema if c.dtype.media]
    if media:
        suffix = {"image": "png", "audio": "wav", "video": "mp4"}[media[0].dtype.value]
        curl = f"curl -X POST {serve_url or '<serve url>'}/{name}/predict -F file=@example.{suffix}"
        demo_args = f'handle_file("example.{suffix}")'
    else:
        if example is not None and not example.empty:
            first = example.iloc[0]
            example_row = {c.name: _plain(first[c.name]) for c in info.feature_schema}
        else:
            example_row = {
                c.name: (c.categories or ["text"])[0] if c.dtype is ColumnType.STRING else 1.0
                for c in info.feature_schema
            }
        curl_body = json.dumps({"rows": [example_row]})
        curl = (
            f"curl -X POST {serve_url or '<serve url>'}/{name}/predict "
            "-H 'Content-Type: application/json' \\\n"
            f"     -d '{curl_body}'"
        )
        demo_args = ", ".join(repr(v) for v in example_row.values())
    return f"""
**Python client** (`pip install` this project; log in with `aims login {hub_url}`):

```python
from aims_spaces import ModelPlayground
pg = ModelPlayground(name="{name}")
X_test = pg.get_eval_features()                     # the eval features (labels stay on the hub)
sub = pg.submit_model(model=my_model, prediction_submission=my_model.predict(X_test),
                      submission_type="all", custom_metadata={{"team": "a"}})
sub.wait(); pg.get_leaderboard()
```

**curl**, against the runtime model (add `-H 'Authorization: Bearer <token>'` on a private playground):

```
{curl}
```

**gradio_client**:

```python
from gradio_client import Client, handle_file
client = Client("{hub_url}/p/{name}/")
client.predict({demo_args}, api_name="/predict")
client.predict(False, True, api_name="/leaderboard")   # details?, all rows?
```
"""


def _positional(fn: Callable[[list[Any], gr.Request], Any], columns: list[str]) -> Callable[..., Any]:
    """``fn(values, request)`` as a function of one named parameter per column plus the request,
    which is the signature Gradio needs to pass the request and to name the API's parameters."""
    n = len(columns)

    def call(*args: Any) -> Any:
        return fn(list(args[:n]), args[n])

    names = [re.sub(r"\W+", "_", c).strip("_") for c in columns]
    names = [
        name
        if name.isidentifier() and not keyword.iskeyword(name) and names.count(name) == 1
        else f"x{i}_{name}"
        for i, name in enumerate(names)
    ]
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names]
    params.append(
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)
    )
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    call.__annotations__ = {"request": gr.Request}  # Gradio reads type hints to pass the request
    call.__name__ = "predict"
    return call


MEDIA_SUFFIX = {ColumnType.IMAGE: "png", ColumnType.AUDIO: "wav", ColumnType.VIDEO: "mp4"}


def _example_rows(folder: Path, info: PlaygroundInfo, example: pd.DataFrame) -> list[list[Any]]:
    """The example rows as the demo's inputs take them: numbers as the text their fields hold,
    media written to files in ``folder`` first (the hub's own, rewritten when the app is built
    again)."""
    rows = example[[c.name for c in info.feature_schema]].head(10)
    if any(c.dtype.media for c in info.feature_schema):
        folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, values in enumerate(rows.itertuples(index=False)):
        row = []
        for column, value in zip(info.feature_schema, values, strict=True):
            if column.dtype.media:
                path = folder / f"{i}.{MEDIA_SUFFIX[column.dtype]}"
                path.write_bytes(value)
                row.append(str(path))
            elif column.dtype in (ColumnType.FLOAT, ColumnType.INT):
                row.append(_number_text(_plain(value)))
            else:
                row.append(_plain(value))
        out.append(row)
    return out


def _number_text(value: Any) -> str:
    """A number as a person types it: ``6.3``, ``6`` (not ``6.0``), every digit kept."""
    try:
        text = repr(float(value))
    except (TypeError, ValueError):
        return str(value)
    return text[:-2] if text.endswith(".0") else text


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _uploaded_image(label: str) -> gr.Image:
    """An image input that hands on the uploaded file as it is. ``gr.Image`` opens every upload
    with Pillow itself, with none of the hub's limits, and a file it cannot read fails with an
    error that names its path on the server; here the model server decodes it within the hub's
    limits (the same decode a REST caller gets) and says in plain words what is wrong.

    The instance's ``preprocess`` is replaced rather than subclassed: Gradio writes a ``.pyi``
    file beside the module of every Component subclass it sees defined."""
    image = gr.Image(label=label, type="filepath", height=220)
    image.preprocess = functools.partial(_image_file, image.GRADIO_CACHE)  # type: ignore[method-assign]
    return image


def _image_file(cache: str, payload: Any) -> str | None:
    if payload is None:
        return None
    if payload.path is not None:
        # Only a file Gradio holds for this hub (an upload) — never a path someone typed; the
        # web guard refuses those first, this is the second lock.
        path = os.path.realpath(str(payload.path))
        if not path.startswith(os.path.realpath(cache) + os.sep) or not os.path.isfile(path):
            raise gr.Error("Upload the image as a file.", print_exception=False)
        return path
    # An API caller may send a data: URL; its bytes are written to a file, not decoded.
    url = payload.url or ""
    if not url.startswith("data:") or "," not in url:
        raise gr.Error("Send the image as a file (gradio_client's handle_file).", print_exception=False)
    try:
        data = base64.b64decode(url.split(",", 1)[1], validate=True)
    except ValueError:
        raise gr.Error("The image's data: URL is not valid base64.", print_exception=False) from None
    folder = Path(cache) / "data-urls"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    return str(path)


_MEDIA_NOUNS = {ColumnType.IMAGE: "image", ColumnType.AUDIO: "sound", ColumnType.VIDEO: "video"}
_ASK_FOR_MEDIA = {
    ColumnType.IMAGE: "Upload an image first.",
    ColumnType.AUDIO: "Upload or record a sound first.",
    ColumnType.VIDEO: "Upload or record a video first.",
}


def _demo_inputs(info: PlaygroundInfo) -> list[gr.components.Component]:
    """One required input per column. Numbers are typed into text fields: a ``gr.Number`` field
    shows and sends 0 until it is edited, so an untouched form would look empty yet be answered.
    Media inputs hand on the uploaded file undecoded (no conversion in the web process); the
    model server converts it."""
    inputs: list[gr.components.Component] = []
    for column in info.feature_schema:
        if column.dtype is ColumnType.IMAGE:
            inputs.append(_uploaded_image(column.name))
        elif column.dtype is ColumnType.AUDIO:
            inputs.append(gr.Audio(label=column.name, type="filepath", format=None))
        elif column.dtype is ColumnType.VIDEO:
            inputs.append(gr.Video(label=column.name, height=220, format=None, include_audio=True))
        elif column.dtype is ColumnType.STRING:
            if column.categories:
                inputs.append(
                    gr.Dropdown(choices=column.categories, label=column.name, value=column.categories[0])
                )
            else:
                inputs.append(gr.Textbox(label=column.name, placeholder="required"))
        elif column.dtype is ColumnType.BOOL:
            inputs.append(gr.Checkbox(label=column.name))
        else:
            kind = "a whole number" if column.dtype is ColumnType.INT else "a number"
            inputs.append(gr.Textbox(label=column.name, placeholder=kind))
    return inputs


def _demo_hint(info: PlaygroundInfo, limits: DecodeLimits) -> str:
    """What the demo's media input takes, under the runtime model's line."""
    kinds = {c.dtype for c in info.feature_schema if c.dtype.media}
    if ColumnType.IMAGE in kinds:
        return (
            f"Any {', '.join(limits.image_formats)} image: it is turned upright, converted to the colour "
            "mode and resized to the size the model takes."
        )
    if ColumnType.AUDIO in kinds:
        return (
            f"Any {', '.join(f for f in limits.audio_formats if f != 'WAVEX')} sound, recorded or uploaded: "
            "it is mixed down to mono and resampled to the model's sample rate; the model hears as "
            "many seconds as it was made for."
        )
    if ColumnType.VIDEO in kinds:
        return (
            f"Any {', '.join(limits.video_containers)} video ({', '.join(limits.video_codecs)}): its "
            "frames are sampled evenly, converted and resized to what the model takes."
        )
    return "Every field is required."


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _missing_message(columns: list[Column]) -> str:
    if len(columns) == 1 and columns[0].dtype.media:
        return _ASK_FOR_MEDIA[columns[0].dtype]
    names = [html.escape(repr(c.name), quote=False) for c in columns]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Fill in {listed}: every input is required."


def _about_this_input(message: str, schema: list[Column]) -> str:
    """A model server's message about "row 0" of a request, told about the demo's input."""
    if message.startswith("row 0, column "):
        return message[len("row 0, column ") :]
    media = [c for c in schema if c.dtype.media]
    if media and message.startswith("row 0"):
        rest, noun = message[len("row 0") :], _MEDIA_NOUNS[media[0].dtype]
        return f"This {noun} file: {rest[1:].strip()}" if rest.startswith(":") else f"This {noun} file{rest}"
    return message


def _shown_number(value: float | None) -> float | None:
    """A regression answer as the page shows it: four significant digits, and every digit before
    the decimal point (the API's answer keeps them all)."""
    if value is None or not math.isfinite(value) or value == 0:
        return value
    decimals = max(3 - math.floor(math.log10(abs(value))), 0)
    return round(value, decimals)


def build_playground_app(
    hub: Hub,
    name: str,
    *,
    serve_url: str | None = None,
    hub_url: str = "",
    sessions: Sessions | None = None,
) -> gr.Blocks:
    """The Gradio app of playground ``name``."""
    sessions = sessions or Sessions(hub)
    ui = PlaygroundUI(hub, name, sessions, serve_url, hub_url)
    info = hub.playgrounds.structure(name)  # the page's shape; what a visitor sees is checked per call
    example = hub.playgrounds.structure_example(name)

    with gr.Blocks(title=f"{name} · aims_spaces", delete_cache=cache_policy(hub)) as demo:
        with gr.Row():
            gr.Markdown(f"# {name}")
            header = gr.Markdown()
        with gr.Tabs():
            with gr.Tab("Overview"):
                overview = gr.Markdown(_overview(info))
                gr.Markdown("## How to take part\n" + _snippets(hub_url, serve_url, info, example))
                with gr.Group(visible=False) as owner_members:
                    gr.Markdown("### Members (owner and co-owners)")
                    members = gr.Markdown()
                    with gr.Row():
                        member_name = gr.Textbox(label="username", scale=2)
                        member_role = gr.Dropdown(
                            ["member", "co-owner"], value="member", label="role", scale=1
                        )
                    with gr.Row():
                        add_btn = gr.Button("Add member (or set role)")
                        remove_btn = gr.Button("Remove member")
                    gr.Markdown("### Invite people\nAnyone with the link can sign up and join.")
                    with gr.Row():
                        invite_hours = gr.Number(label="valid for (hours)", value=168, minimum=1)
                        invite_uses = gr.Number(label="uses", value=50, minimum=1, precision=0)
                        invite_domain = gr.Textbox(
                            label="only e-mail domain (optional)", placeholder="uni.edu"
                        )
                    invite_btn = gr.Button("Make an invitation link")
                    invite_link = gr.Markdown()
                    gr.Markdown("### Edit the pages\nMarkdown; participants see them on this tab.")
                    page_name = gr.Dropdown(list(PAGE_NAMES), value="overview", label="page")
                    page_text = gr.Textbox(label="text (Markdown)", lines=8, max_lines=30)
                    with gr.Row():
                        save_page_btn = gr.Button("Save the page")
                        private_box = gr.Checkbox(label="private (members only)", value=info.private)
                        save_private_btn = gr.Button("Save visibility")
                    gr.Markdown(
                        "### Replace the eval labels\nA CSV or Parquet file with one column, one row per "
                        "eval row, the same classes; every scored submission is scored again."
                    )
                    labels_file = gr.File(label="new eval labels (.csv or .parquet)", type="filepath")
                    replace_btn = gr.Button("Replace the labels and score again")
                    edit_status = gr.Markdown()
            with gr.Tab("Experiments"):
                metric_choices, metric_picked = tables.metric_choices(info.shown_metrics)
                ui.built_metrics = list(info.shown_metrics)
                with gr.Row():
                    details = gr.Checkbox(
                        label="Show model details (hyperparameters, ONNX facts)", value=False
                    )
                    show_all = gr.Checkbox(label="Show all submissions", value=False)
                columns = gr.CheckboxGroup(
                    metric_choices, value=metric_picked, label="metric columns (beside the ranking metric)"
                )
                board_count = gr.Markdown()
                board = gr.Dataframe(
                    label="Experiment leaderboard (● = serving; [low, high] = 95% interval)",
                    interactive=False,
                    show_search="search",
                    max_height=600,
                    wrap=False,
                    pinned_columns=2,
                )
                with gr.Accordion(f"Best {info.eval_metric.label} over time", open=False) as trend_box:
                    trend = gr.LinePlot(
                        x="submitted",
                        y="best",
                        height=260,
                        x_title="submitted",
                        y_title=f"best {info.eval_metric.label}",
                    )
                refresh = gr.Button("Refresh", size="sm")
            with gr.Tab("Competition") as competition_tab:
                with gr.Row():
                    comp_details = gr.Checkbox(label="Show model details", value=False)
                    comp_all = gr.Checkbox(label="Show all submissions", value=False)
                comp_columns = gr.CheckboxGroup(
                    metric_choices, value=metric_picked, label="metric columns (beside the ranking metric)"
                )
                comp_count = gr.Markdown()
                comp_notes = gr.Markdown()
                comp_board = gr.Dataframe(
                    label="Competition leaderboard ([low, high] = 95% interval)",
                    interactive=False,
                    show_search="search",
                    max_height=600,
                    wrap=False,
                    pinned_columns=2,
                )
                standings_btn = gr.DownloadButton("Download the standings (CSV)", size="sm")
                with gr.Accordion("Your team and final entries", open=True):
                    team_status = gr.Markdown()
                    with gr.Row():
                        team_name = gr.Textbox(label="new team's name", scale=2)
                        create_team_btn = gr.Button("Make a team", scale=1)
                    with gr.Row():
                        join_code = gr.Textbox(label="a team's join code", scale=2)
                        join_btn = gr.Button("Join the team", scale=1)
                    leave_btn = gr.Button("Leave my team", size="sm")
                    final_entries = gr.CheckboxGroup(label="final entries", choices=[])
                    final_btn = gr.Button("Save my final entries", variant="primary")
                with gr.Group(visible=False) as owner_close:
                    close_btn = gr.Button("Close the competition now (owner)", variant="stop")
            with gr.Tab("Data") as data_tab:
                data = build_data_tab(hub, name, sessions)
            with gr.Tab("Submit"):
                from .preprocessor_form import SPECS, PreprocessorForm, explanation

                media_input = info.input_type in SPECS
                gr.Markdown(
                    "Log in, then upload an ONNX model and/or a CSV of predictions for the eval "
                    "features (one column, in row order). A scikit-learn model's `.skops` file may go "
                    "beside its ONNX model as the original. To convert a scikit-learn, PyTorch or Keras "
                    "model, use the Python client (see **API**): it converts on your machine."
                    + ("" if media_input else "\n\n" + explanation(info.input_type))
                )
                model_file = gr.File(label="model (.onnx)", type="filepath")
                predictions_file = gr.File(label="predictions (.csv)", type="filepath")
                original_file = gr.File(label="original, optional (.skops)", type="filepath")
                # Image, audio and video models take tensors: the preprocessor says how files become them.
                preprocessor_form = PreprocessorForm(info.input_type, example) if media_input else None
                submission_type = gr.Radio(
                    [t.value for t in SubmissionType], value="experiment", label="board"
                )
                description = gr.Textbox(label="description")
                custom = gr.Textbox(label="custom metadata (JSON)", placeholder='{"team": "a"}')
                submit_btn = gr.Button("Submit", variant="primary")
                submit_status = gr.Markdown()
                submit_row = gr.Dataframe(label="your new row", interactive=False, visible=False)
            with gr.Tab("Compare") as compare_tab:
                compare_versions = gr.Dropdown(label="versions", multiselect=True, choices=[])
                compare_btn = gr.Button("Compare")
                compare_table = gr.HTML()
            with gr.Tab("Model") as model_tab:
                model_note = gr.Markdown()
                model_version = gr.Dropdown(label="version", choices=[])
                model_meta = gr.JSON(label="metadata", visible=False)
                model_scores = gr.Dataframe(label="scores", interactive=False, visible=False)
                download = gr.DownloadButton("Download ONNX", visible=False)
                with gr.Group(visible=False) as owner_deploy:
                    deploy_btn = gr.Button("Deploy this version (owner)", variant="primary")
                    deploy_status = gr.Markdown()
            with gr.Tab("Demo"):
                runtime = gr.Markdown()
                gr.Markdown(_demo_hint(info, hub.settings.decode_limits))
                with gr.Row():
                    with gr.Column():
                        demo_inputs = _demo_inputs(info)
                        predict_btn = gr.Button("Predict", variant="primary")
                    with gr.Column():
                        if info.task_type is TaskType.CLASSIFICATION:
                            demo_output: gr.components.Component = gr.Label(
                                label="prediction", num_top_classes=5
                            )
                            demo_shown = demo_output
                        else:
                            # The API's answer keeps every digit; the page shows a sensible few.
                            demo_output = gr.Number(label="value", visible=False)
                            demo_shown = gr.Number(label="prediction")
                if example is not None and not example.empty and demo_inputs:
                    gr.Examples(
                        examples=_example_rows(
                            hub.settings.home / "gradio" / "examples" / name, info, example
                        ),
                        inputs=demo_inputs,
                        label="examples from the data",
                    )
            with gr.Tab("API"):
                gr.Markdown(
                    "The REST API is documented at [/docs](/docs). Predictions go to "
                    f"`POST {serve_url or '<serve url>'}/{name}/predict`. This page's Gradio API "
                    f'(`gradio_client.Client("{hub_url}/p/{name}/")`) names its endpoints '
                    "`/predict` (the demo) and `/leaderboard`, `/competition_leaderboard`; "
                    "send `headers={'Authorization': 'Bearer <token>'}` to act as yourself.\n\n"
                    + _snippets(hub_url, serve_url, info, example)
                )

        demo.load(
            ui.page,
            outputs=[
                *(header, owner_members, owner_close, owner_deploy, members, runtime),
                *(columns, comp_columns),  # the metric pickers, when the owner changed the columns
            ],
            api_visibility="private",
        )
        demo.load(
            ui.leaderboard,
            inputs=[details, show_all, columns],
            outputs=[board, board_count],
            api_name="leaderboard",
        )
        trend_box.expand(ui.trend, outputs=trend, api_visibility="private")
        competition_tab.select(
            ui.competition,
            inputs=[comp_details, comp_all, comp_columns],
            outputs=[comp_board, comp_count, comp_notes],
            api_name="competition_leaderboard",
        )
        for trigger in (details.change, show_all.change, columns.change, refresh.click):
            trigger(
                ui.leaderboard,
                inputs=[details, show_all, columns],
                outputs=[board, board_count],
                api_visibility="private",
            )
        for trigger in (comp_details.change, comp_all.change, comp_columns.change):
            trigger(
                ui.competition,
                inputs=[comp_details, comp_all, comp_columns],
                outputs=[comp_board, comp_count, comp_notes],
                api_visibility="private",
            )
        # Closing changes the competition's state, dates and ranking: show them anew.
        close_btn.click(ui.close_competition, outputs=comp_notes, api_visibility="private").success(
            ui.competition,
            inputs=[comp_details, comp_all, comp_columns],
            outputs=[comp_board, comp_count, comp_notes],
            api_visibility="private",
        ).success(ui.overview, outputs=overview, api_visibility="private")
        competition_tab.select(ui.picker, outputs=comp_columns, api_visibility="private")
        competition_tab.select(ui.team_panel, outputs=[team_status, final_entries], api_visibility="private")
        # The button holds the file before it is clicked (a DownloadButton downloads its value).
        competition_tab.select(ui.standings, outputs=standings_btn, api_visibility="private")
        team_outputs = [team_status, final_entries]
        create_team_btn.click(
            ui.create_team, inputs=team_name, outputs=team_outputs, api_visibility="private"
        )
        join_btn.click(ui.join_team, inputs=join_code, outputs=team_outputs, api_visibility="private")
        leave_btn.click(ui.leave_team, outputs=team_outputs, api_visibility="private")
        final_btn.click(ui.select_final, inputs=final_entries, outputs=team_outputs, api_visibility="private")
        add_btn.click(
            ui.add_member, inputs=[member_name, member_role], outputs=members, api_visibility="private"
        )
        demo.load(ui.overview, outputs=overview, api_visibility="private")
        page_name.change(ui.page_source, inputs=page_name, outputs=page_text, api_visibility="private")
        demo.load(ui.page_source, inputs=page_name, outputs=page_text, api_visibility="private")
        save_page_btn.click(
            ui.save_page,
            inputs=[page_name, page_text],
            outputs=[overview, edit_status],
            api_visibility="private",
        )
        save_private_btn.click(
            ui.save_private, inputs=private_box, outputs=[overview, edit_status], api_visibility="private"
        )
        replace_btn.click(
            ui.replace_labels, inputs=labels_file, outputs=[overview, edit_status], api_visibility="private"
        )
        invite_btn.click(
            ui.invite,
            inputs=[invite_hours, invite_uses, invite_domain],
            outputs=invite_link,
            api_visibility="private",
        )
        remove_btn.click(ui.remove_member, inputs=member_name, outputs=members, api_visibility="private")
        submit_btn.click(
            ui.submit,
            # The original comes last, so callers of the API's earlier five inputs are unaffected.
            inputs=[model_file, predictions_file, submission_type, description, custom, original_file],
            # Then, on image, audio and video playgrounds, the preprocessor's file and fields, by name.
            inputs_kwargs=preprocessor_form.inputs if preprocessor_form else None,
            outputs=[submit_status, submit_row],
            api_name="submit",
        )
        data.wire(data_tab)
        version_outputs = [compare_versions, model_version, compare_table, model_note]
        compare_tab.select(ui.versions, outputs=version_outputs, api_visibility="private")
        model_tab.select(ui.versions, outputs=version_outputs, api_visibility="private")
        compare_btn.click(
            ui.compare, inputs=compare_versions, outputs=compare_table, api_visibility="private"
        )
        model_version.change(
            ui.model,
            inputs=model_version,
            outputs=[model_meta, model_scores, download],
            api_visibility="private",
        )
        # A deploy changes what the Demo tab names and what the leaderboard marks as serving.
        deploy_btn.click(
            ui.deploy, inputs=model_version, outputs=[deploy_status, runtime], api_visibility="private"
        ).success(
            ui.leaderboard,
            inputs=[details, show_all, columns],
            outputs=[board, board_count],
            api_visibility="private",
        )
        predicted = predict_btn.click(
            _positional(ui.predict, [c.name for c in info.feature_schema]),
            inputs=demo_inputs,
            outputs=demo_output,
            api_name="predict",
            show_progress_on=demo_shown,
        )
        if demo_shown is not demo_output:
            predicted.success(_shown_number, inputs=demo_output, outputs=demo_shown, api_visibility="private")
    return demo


def launch(name: str) -> None:
    """Serve one playground on its own, Space-style, from the hub's data (`AIMS_HOME`)."""
    from aims_spaces.hub import Settings

    settings = Settings()
    hub = Hub.open(settings)
    build_playground_app(hub, name, serve_url=settings.serve_url, hub_url=settings.url).launch(css=CSS)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m apps.playground_app PLAYGROUND")
    launch(sys.argv[1])
