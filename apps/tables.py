"""DataFrames and HTML the UI shows, built from the service layer's results."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from aims_spaces.core.frames import comparison_frame, leaderboard_frame
from aims_spaces.domain import Leaderboard, PlaygroundInfo, SubmissionInfo

SCORE_DIGITS = 4
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_text(text: str) -> str:
    """Participant-written text for a Markdown component: HTML escaped, Markdown marks escaped
    (so a team name cannot become a link or a heading)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text.replace("\n", " ")))


def fmt(value: float | None) -> str:
    """A score in a sentence: four significant digits, or a dash when there is none."""
    return "—" if value is None else f"{value:.{SCORE_DIGITS}g}"


_CORE = ["rank", "version", "username"]
_AFTER = ["model_type", "flags", "submitted", "description"]
_DETAILS = ["submission_type", "framework", "verified", "mismatch_fraction", "duplicate_of"]


def _flags(row: pd.Series) -> str:
    """Why to look twice at a row, in a few words."""
    out = []
    if row.get("verified") is False:
        out.append("unverified")
    mismatch = row.get("mismatch_fraction")
    if isinstance(mismatch, float) and mismatch > 0:
        out.append(f"{mismatch:.0%} of uploaded predictions differ")
    dup = row.get("duplicate_of")
    if isinstance(dup, (int, float)) and not pd.isna(dup):
        out.append(f"same predictions as v{int(dup)}")
    return "; ".join(out)


def board_frame(board: Leaderboard, *, details: bool, serving_version: int | None) -> pd.DataFrame:
    """The leaderboard as shown: metrics first, the serving version marked, details on demand."""
    df = leaderboard_frame(board, verbose=details)
    if df.empty:
        return pd.DataFrame(columns=["rank", "version", "username", board.metric.value])
    metric = board.metric.value
    df["flags"] = df.apply(_flags, axis=1) if len(df) else []
    entrant = [c for c in ("team", "entries") if c in df.columns]  # the competition board's
    known = set(_CORE) | set(_AFTER) | set(_DETAILS) | set(entrant)
    scores = [
        c
        for c in df.columns
        if c not in known
        and not c.startswith(("custom.", "param.", "onnx.", "arch.", "private_"))
        and c != metric
        and not c.endswith(("_ci_low", "_ci_high"))
    ]
    ci = [c for c in (f"{metric}_ci_low", f"{metric}_ci_high") if c in df.columns]
    private = [c for c in df.columns if c.startswith("private_")]
    extra = [c for c in df.columns if c.startswith(("custom.", "arch.", "param.", "onnx."))]
    cols = _CORE + entrant + [metric] + ci + scores + private + [c for c in _AFTER if c in df.columns]
    if details:
        cols += [c for c in _DETAILS if c in df.columns] + extra
    else:
        cols += [c for c in extra if c.startswith("custom.")]
    out = df[cols].copy()
    out.insert(0, "serving", ["●" if v == serving_version else "" for v in out["version"]])
    out["submitted"] = pd.to_datetime(out["submitted"]).dt.strftime("%Y-%m-%d %H:%M")
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(SCORE_DIGITS)
    return out


def best_over_time(board: Leaderboard) -> pd.DataFrame:
    """Each time the best score improved, and where it stands now (for the trend plot)."""
    metric = board.metric.value
    rows = sorted(
        ((r.created_at, r.scores.get(metric)) for r in board.rows if r.scores.get(metric) is not None),
        key=lambda t: t[0],
    )
    best: float | None = None
    points = []
    for when, value in rows:
        assert value is not None
        if best is None or (value > best if board.higher_is_better else value < best):
            best = value
            points.append({"submitted": when.replace(tzinfo=None), f"best {metric}": best})
    if rows and points and points[-1]["submitted"] != rows[-1][0].replace(tzinfo=None):
        points.append({"submitted": rows[-1][0].replace(tzinfo=None), f"best {metric}": best})
    return pd.DataFrame(points, columns=["submitted", f"best {metric}"])


def comparison_html(infos: list[SubmissionInfo]) -> str:
    frame = comparison_frame(infos, verbose=True)
    if frame.empty:
        return "<p>Pick two or more versions.</p>"

    def mark(row: pd.Series) -> list[str]:
        values = {str(v) for v in row}
        return ["background-color: #fff3b0; font-weight: 600" if len(values) > 1 else "" for _ in row]

    shown = frame.map(lambda v: round(v, SCORE_DIGITS) if isinstance(v, float) else v)
    styler = (
        shown.astype(str)
        .replace({"nan": "", "None": ""})
        .style.apply(mark, axis=1)
        # Participants write metadata keys and values: every cell and header is escaped (the
        # Styler writes raw HTML by default, and gr.HTML renders it).
        .format(escape="html")
        .format_index(escape="html", axis=0)
        .format_index(escape="html", axis=1)
    )
    return '<div class="aims-compare">' + styler.to_html() + "</div>"


def playground_cards(infos: list[tuple[PlaygroundInfo, Any, int | None]]) -> str:
    """The hub's front page table: one row per visible playground."""
    if not infos:
        return "<p>No playgrounds yet.</p>"
    rows = []
    for info, best, serving in infos:
        name = html.escape(info.name)
        best_text = "–" if best is None else f"{best:.4g}"
        rows.append(
            f'<tr><td><a href="/p/{name}/">{name}</a>{" 🔒" if info.private else ""}</td>'
            f"<td>{info.task_type.value}</td><td>{info.input_type.value}</td>"
            f"<td>{html.escape(info.eval_metric.value)}: {best_text}</td><td>{info.n_submissions}</td>"
            f"<td>{'version ' + str(serving) if serving else 'no'}</td></tr>"
        )
    return (
        '<table class="aims-playgrounds"><thead><tr><th>playground</th><th>task</th><th>data</th>'
        "<th>best score</th><th>submissions</th><th>deployed</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
