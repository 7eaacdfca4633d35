"""DataFrames and HTML the UI shows, built from the service layer's results."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

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


DESCRIPTION_CHARS = 140


def first_line(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """A description's first non-empty line, without heading or quote marks, at most ``limit``
    characters (plain text: the caller escapes it)."""
    for line in text.splitlines():
        line = line.strip().lstrip("#>").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def competition_state(info: PlaygroundInfo, now: datetime) -> str:
    """``open``, ``opens <date>``, ``closes <date>`` or ``closed`` (dates in UTC)."""
    c = info.competition
    if c.is_closed:
        return "closed"
    if c.start is not None and _utc(c.start) > now:
        return f"opens {_utc(c.start):%Y-%m-%d}"
    if c.deadline is not None:
        return f"closes {_utc(c.deadline):%Y-%m-%d}"
    return "open"


def playground_matches(info: PlaygroundInfo, query: str) -> bool:
    """Whether the search ``query`` (case-insensitive) is in the name, description or owner."""
    q = query.strip().casefold()
    return not q or any(q in text.casefold() for text in (info.name, info.description, info.owner))


def is_mine(info: PlaygroundInfo, username: str) -> bool:
    """The user owns the playground, co-owns it or is a member."""
    return info.owner == username or username in info.members


def playground_cards(
    infos: list[tuple[PlaygroundInfo, float | None, int | None]],
    *,
    now: datetime | None = None,
    empty: str = "No playgrounds yet.",
) -> str:
    """The hub's front page table: one row per playground, with its best score and the version
    it serves. Everything a person wrote (names, descriptions) is HTML escaped: the table is
    raw HTML in a ``gr.HTML``."""
    if not infos:
        return f"<p>{html.escape(empty)}</p>"
    now = now or datetime.now(UTC)
    rows = []
    for info, best, serving in infos:
        name = html.escape(info.name)
        line = first_line(info.description)
        about = f'<br><small class="aims-about">{html.escape(line)}</small>' if line else ""
        metric = html.escape(info.eval_metric.label)
        rows.append(
            f'<tr><td><a href="/p/{name}/"><b>{name}</b></a>{" 🔒" if info.private else ""}{about}</td>'
            f"<td>{html.escape(info.owner)}</td>"
            f"<td>{info.input_type.value} · {info.task_type.value}</td>"
            f"<td>{metric}: {fmt(best)}</td>"
            f"<td>{html.escape(competition_state(info, now))}</td>"
            f"<td>{info.n_participants:,}</td><td>{info.n_submissions:,}</td>"
            f"<td>{'version ' + str(serving) if serving else '—'}</td></tr>"
        )
    return (
        '<table class="aims-playgrounds"><thead><tr><th>playground</th><th>owner</th><th>data · task</th>'
        "<th>best score</th><th>competition</th><th>participants</th><th>submissions</th>"
        "<th>deployed</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
