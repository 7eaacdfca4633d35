"""DataFrames and HTML the UI shows, built from the service layer's results.

Every score a page shows goes through :func:`score_text`: one number of decimal places
(``AIMS_SCORE_DECIMALS``) everywhere, an interval as ``0.950 [0.860, 1.000]``, nothing at all
where there is no value.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from aims_spaces.core.frames import comparison_frame, leaderboard_frame
from aims_spaces.domain import (
    Leaderboard,
    LeaderboardRow,
    Metric,
    PlaygroundInfo,
    Split,
    SubmissionInfo,
)

SCORE_DIGITS = 4  # significant digits of a score in a sentence (:func:`fmt`)
DEFAULT_DECIMALS = 3  # the setting's default (AIMS_SCORE_DECIMALS)
DEFAULT_PICKED = 3  # metric columns a board shows beside the ranking metric until one picks
BOARD_DESCRIPTION_CHARS = 80
COMPARE_MAX_VERSIONS = 12
COMPARE_CELL_CHARS = 200
DIFFERS_STYLE = "background-color: #fff3b0; font-weight: 600"
SPLIT_LABELS = {
    Split.ALL.value: "all rows",
    Split.PUBLIC.value: "public rows",
    Split.PRIVATE.value: "private rows",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_text(text: str) -> str:
    """Participant-written text for a Markdown component: HTML escaped, Markdown marks escaped
    (so a team name cannot become a link or a heading)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text.replace("\n", " ")))


def fmt(value: float | None) -> str:
    """A score in a sentence: four significant digits, or a dash when there is none."""
    return "—" if value is None else f"{value:.{SCORE_DIGITS}g}"


# --- one score, one interval, one name -------------------------------------------------------


def _number(value: Any) -> float | None:
    """``value`` as a float, or None for anything that is not a number (None, NaN, text, bools)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        value = getattr(value, "item", lambda: value)()  # a numpy scalar
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    return None if math.isnan(value) else float(value)


def score_text(value: Any, decimals: int = DEFAULT_DECIMALS) -> str:
    """A score as every page shows it: ``decimals`` places (``1`` reads ``1.000``), blank when
    there is none, never ``-0.000``."""
    number = _number(value)
    if number is None:
        return ""
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    text = f"{number:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def interval_text(value: Any, interval: Sequence[Any] | None, decimals: int = DEFAULT_DECIMALS) -> str:
    """A score with its 95% interval, ``0.950 [0.860, 1.000]``; the score alone without one."""
    text = score_text(value, decimals)
    if not text or not interval or len(interval) != 2:
        return text
    low, high = (score_text(v, decimals) for v in interval)
    return f"{text} [{low}, {high}]" if low and high else text


def rounded(value: Any, decimals: int = DEFAULT_DECIMALS) -> float | None:
    """A score's value in a table (what the column sorts by), rounded as it is shown."""
    number = _number(value)
    return None if number is None or math.isinf(number) else round(number, decimals)


def metric_label(name: str) -> str:
    """A metric's name for people (``f1_macro`` → ``F1 (macro)``); unknown names as they are."""
    try:
        return Metric(name).label
    except ValueError:
        return name


def plain_text(value: Any, limit: int | None = None) -> str:
    """Anything that is not a score, as text: blank for missing, whole numbers without ``.0``
    (``100`` estimators, not ``100.0``), at most ``limit`` characters."""
    value = getattr(value, "item", lambda: value)() if not isinstance(value, (str, bytes)) else value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        text = ""
    elif isinstance(value, float) and not isinstance(value, bool):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    else:
        text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def yes_no(value: bool | None) -> str:
    return "" if value is None else "yes" if value else "no"


def model_text(model_type: str | None, framework: str | None) -> str:
    """``LogisticRegression (sklearn)``; ``predictions only`` for a submission without a model."""
    if model_type and framework and model_type != framework:
        return f"{model_type} ({framework})"
    return model_type or framework or "predictions only"


def who_text(username: str, team: str | None) -> str:
    """The team and who submitted for it, or the participant alone."""
    return f"{team} ({username})" if team else username


# --- tables for gr.Dataframe ---------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table for ``gr.Dataframe``: each cell's value (numbers stay numbers, so a column sorts
    by value and API callers get numbers) and the text the page shows for it."""

    headers: list[str]
    values: list[list[Any]]
    texts: list[list[str]]

    def __len__(self) -> int:
        return len(self.values)

    def head(self, n: int) -> Table:
        return Table(self.headers, self.values[:n], self.texts[:n])

    def frame(self) -> pd.DataFrame:
        """The table as the page shows it (text)."""
        return pd.DataFrame(self.texts, columns=pd.Index(self.headers, dtype=object))

    def value(self) -> dict[str, Any]:
        """The ``gr.Dataframe`` value: the data plus the text to show in each cell."""
        return {"headers": self.headers, "data": self.values, "metadata": {"display_value": self.texts}}


@dataclass(frozen=True)
class _Column:
    header: str
    value: Callable[[int, LeaderboardRow], Any]
    text: Callable[[int, LeaderboardRow], str]


def metric_choices(shown: Sequence[Metric]) -> tuple[list[tuple[str, str]], list[str]]:
    """The column picker of a board whose metric columns are ``shown`` (the ranking metric first,
    always on the board): its choices as (label, metric) and the few ticked by default."""
    others = list(shown)[1:]
    return [(m.label, m.value) for m in others], [m.value for m in others[:DEFAULT_PICKED]]


def _flags(row: LeaderboardRow) -> str:
    """Why to look twice at a row, in a few words."""
    out = []
    if row.verified is False:
        out.append("unverified")
    if row.mismatch_fraction:
        out.append(f"{row.mismatch_fraction:.0%} of uploaded predictions differ")
    if row.duplicate_of is not None:
        out.append(f"same predictions as v{row.duplicate_of}")
    return "; ".join(out)


def board_table(
    board: Leaderboard,
    *,
    details: bool,
    serving_version: int | None,
    columns: Iterable[str] | None = None,
    decimals: int = DEFAULT_DECIMALS,
) -> Table:
    """The leaderboard as a page shows it: rank, who, which model, its description and the
    ranking metric (with its interval) first; then the metrics picked in ``columns`` (None: the
    first few the board shows), each beside its private twin where the viewer sees private
    scores; then version, the serving mark, when, flags and custom metadata; hyperparameters
    and ONNX facts with ``details``. Scores to ``decimals`` places."""
    metric = board.metric.value
    rows = board.rows
    present = list(dict.fromkeys(m for r in rows for m in r.scores))
    others = [m for m in present if m != metric]
    wanted = set(columns) if columns is not None else set(others[:DEFAULT_PICKED])
    picked = [m for m in others if m in wanted]
    private = board.shows_private or any(r.private_scores is not None for r in rows)
    public_suffix = f" · {board.scored_on.value}" if private else ""

    def public(name: str, with_interval: bool) -> _Column:
        def value(_: int, r: LeaderboardRow) -> Any:
            return rounded(r.scores.get(name), decimals)

        def text(_: int, r: LeaderboardRow) -> str:
            v = r.scores.get(name)
            return interval_text(v, r.interval, decimals) if with_interval else score_text(v, decimals)

        return _Column(metric_label(name) + public_suffix, value, text)

    def secret(name: str, with_interval: bool) -> _Column:
        def value(_: int, r: LeaderboardRow) -> Any:
            return rounded((r.private_scores or {}).get(name), decimals)

        def text(_: int, r: LeaderboardRow) -> str:
            v = (r.private_scores or {}).get(name)
            return (
                interval_text(v, r.private_interval, decimals) if with_interval else score_text(v, decimals)
            )

        return _Column(f"{metric_label(name)} · private", value, text)

    def plain(header: str, get: Callable[[LeaderboardRow], Any]) -> _Column:
        return _Column(header, lambda _, r: _json_value(get(r)), lambda _, r: plain_text(get(r)))

    cols = [
        plain("rank", lambda r: r.rank),
        plain("who", lambda r: who_text(r.username, r.team)),
        plain("model", lambda r: model_text(r.model_type, r.framework)),
        plain("description", lambda r: first_line(r.description, BOARD_DESCRIPTION_CHARS)),
    ]
    ranking = [public(metric, True)] + ([secret(metric, True)] if private else [])
    if board.ranked_on is Split.PRIVATE and private:
        ranking.reverse()  # the score that ranks comes first
    cols += ranking
    for name in picked:
        cols.append(public(name, False))
        if private:
            cols.append(secret(name, False))
    if any(r.entries is not None for r in rows):
        cols.append(plain("entries", lambda r: r.entries))
    cols += [
        plain("version", lambda r: r.version),
        plain("serving", lambda r: "●" if r.version == serving_version else ""),
        plain("submitted (UTC)", lambda r: f"{_utc(r.created_at):%Y-%m-%d %H:%M}"),
        plain("flags", _flags),
    ]
    if details:
        cols += [
            plain("board", lambda r: r.submission_type.value),
            plain("verified", lambda r: yes_no(r.verified)),
            _Column(
                "mismatch",
                lambda _, r: rounded(r.mismatch_fraction, 4),
                lambda _, r: "" if r.mismatch_fraction is None else f"{r.mismatch_fraction:.1%}",
            ),
            plain("duplicate of", lambda r: r.duplicate_of),
        ]
    extra = _metadata_columns(board, details)
    if extra is not None:
        cols += [_listed(str(name), extra[name].tolist()) for name in extra.columns]
    return Table(
        headers=[c.header for c in cols],
        values=[[c.value(i, r) for c in cols] for i, r in enumerate(rows)],
        texts=[[c.text(i, r) for c in cols] for i, r in enumerate(rows)],
    )


def _listed(header: str, values: list[Any]) -> _Column:
    """A column of values given in row order (the flattened metadata)."""

    def value(i: int, _: LeaderboardRow) -> Any:
        return _json_value(values[i])

    def text(i: int, _: LeaderboardRow) -> str:
        return plain_text(values[i], COMPARE_CELL_CHARS)

    return _Column(header, value, text)


def hidden_note(board: Leaderboard) -> str:
    """A line for a board that carries the ranking metric alone, without intervals: what
    participants and visitors see while the competition is open (the picker has nothing to add)."""
    metric = board.metric.value
    if board.rows and all(set(r.scores) <= {metric} and r.interval is None for r in board.rows):
        return "While the competition is open, boards show the ranking metric alone, without intervals."
    return ""


def _metadata_columns(board: Leaderboard, details: bool) -> pd.DataFrame | None:
    """Custom metadata columns (``custom.*``) and, with ``details``, hyperparameters, ONNX facts
    and architecture, one row per board row, from the shared leaderboard frame."""
    if not board.rows or not (details or any(r.custom_metadata for r in board.rows)):
        return None
    df = leaderboard_frame(board, verbose=details)
    prefixes = ("custom.", "param.", "onnx.", "arch.") if details else ("custom.",)
    names = [c for c in df.columns if isinstance(c, str) and c.startswith(prefixes)]
    names.sort(key=lambda c: prefixes.index(c.split(".", 1)[0] + "."))  # custom first
    return df[names] if names else None


def _json_value(value: Any) -> Any:
    """A cell's value as JSON takes it: numpy scalars unwrapped, NaN as None."""
    value = getattr(value, "item", lambda: value)() if not isinstance(value, (str, bytes)) else value
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def board_frame(
    board: Leaderboard,
    *,
    details: bool,
    serving_version: int | None,
    columns: Iterable[str] | None = None,
    decimals: int = DEFAULT_DECIMALS,
) -> pd.DataFrame:
    """The leaderboard as the page shows it, as text (see :func:`board_table`)."""
    return board_table(
        board, details=details, serving_version=serving_version, columns=columns, decimals=decimals
    ).frame()


def scores_frame(scores: dict[str, dict[str, Any]], decimals: int = DEFAULT_DECIMALS) -> pd.DataFrame:
    """A submission's scores (split → metric → value) as a small table: one row per set of
    rows, one column per metric, readable names, every score to ``decimals`` places."""
    names = list(dict.fromkeys(m for values in scores.values() for m in values))
    headers = ["rows"] + [metric_label(m) for m in names]
    records = [
        [SPLIT_LABELS.get(split, split)] + [score_text(values.get(m), decimals) for m in names]
        for split, values in scores.items()
    ]
    return pd.DataFrame(records, columns=pd.Index(headers, dtype=object))


def row_frame(row: dict[str, Any], decimals: int = DEFAULT_DECIMALS) -> pd.DataFrame:
    """A new submission's row (version, who, and scores keyed ``metric`` or ``split.metric``)
    with readable metric names and every score to ``decimals`` places."""
    out: dict[str, str] = {}
    for key, value in row.items():
        split, _, name = key.rpartition(".")
        if _is_metric(name):
            header = metric_label(name) + (f" ({SPLIT_LABELS.get(split, split)})" if split else "")
            out[header] = score_text(value, decimals)
        else:
            out[key] = yes_no(value) if isinstance(value, bool) else plain_text(value)
    return pd.DataFrame([out], columns=pd.Index(list(out), dtype=object))


def _is_metric(name: str) -> bool:
    try:
        Metric(name)
    except ValueError:
        return False
    return True


# --- the trend plot --------------------------------------------------------------------------


def best_over_time(board: Leaderboard) -> pd.DataFrame:
    """Each time the best score improved, and where it stands now, for the trend plot:
    ``submitted`` (a datetime, UTC) and ``best``."""
    metric = board.metric.value
    rows = sorted(
        ((_utc(r.created_at), _number(r.scores.get(metric))) for r in board.rows),
        key=lambda t: t[0],
    )
    rows = [(when, value) for when, value in rows if value is not None]
    best: float | None = None
    points: list[tuple[datetime, float]] = []
    for when, value in rows:
        assert value is not None
        if best is None or (value > best if board.higher_is_better else value < best):
            best = value
            points.append((when, best))
    if rows and points and points[-1][0] != rows[-1][0]:
        assert best is not None
        points.append((rows[-1][0], best))
    return pd.DataFrame(
        {
            "submitted": pd.to_datetime([w.replace(tzinfo=None) for w, _ in points]).astype("datetime64[ns]"),
            "best": pd.Series([b for _, b in points], dtype="float64"),
        }
    )


def trend_axes(frame: pd.DataFrame, metric: Metric, decimals: int = DEFAULT_DECIMALS) -> dict[str, Any]:
    """The trend plot's axes for ``frame``: dates and times that read at the span the points
    cover, and a score axis wide enough that its ticks differ at ``decimals`` places (bounded
    by 1 for scores where higher is better, by 0 for errors)."""
    times = frame["submitted"]
    span = (times.max() - times.min()).total_seconds() if len(times) else 0.0
    if span <= 3600:
        x_format = "%H:%M:%S"
    elif span <= 3 * 86400:
        x_format = "%b %d %H:%M"
    else:
        x_format = "%Y-%m-%d"
    out: dict[str, Any] = {
        "x_title": "submitted (your local time)",
        "x_axis_format": x_format,
        "y_title": f"best {metric.label}",
        "y_axis_format": f".{decimals}f",
    }
    values = frame["best"].dropna()
    if len(values):
        low, high = float(values.min()), float(values.max())
        step = 10.0**-decimals
        pad = max((high - low) * 0.1, 5 * step)
        low, high = low - pad, high + pad
        if metric.higher_is_better and high > 1:
            low, high = low - (high - 1), 1.0
        elif not metric.higher_is_better and low < 0:
            low, high = 0.0, high - low
        out["y_lim"] = [round(low, decimals + 1), round(high, decimals + 1)]
    return out


# --- Compare ---------------------------------------------------------------------------------


def _compare_label(key: str) -> tuple[str, bool]:
    """A comparison row's name for people, and whether its values are scores."""
    split, _, name = key.partition(".")
    if split in SPLIT_LABELS and _is_metric(name):
        return f"{metric_label(name)} ({SPLIT_LABELS[split]})", True
    return {"username": "by", "status": "status", "model_type": "model", "framework": "framework"}.get(
        key, key
    ), False


def comparison_html(infos: Sequence[SubmissionInfo], *, decimals: int = DEFAULT_DECIMALS) -> str:
    """Versions side by side, one column each: readable row names, scores to ``decimals``
    places, blank where a version has no value, rows where the versions differ marked ``≠``
    (and shaded). Every name and value is HTML escaped: participants write them."""
    if len(infos) < 2:
        return "<p>Pick two or more versions.</p>"
    note = ""
    if len(infos) > COMPARE_MAX_VERSIONS:
        note = f"<p>Showing the first {COMPARE_MAX_VERSIONS} of the {len(infos)} versions picked.</p>"
        infos = infos[:COMPARE_MAX_VERSIONS]
    frame = comparison_frame(infos, verbose=True)
    body: list[tuple[str, list[str]]] = [
        ("description", [plain_text(first_line(i.description), COMPARE_CELL_CHARS) for i in infos]),
        ("submitted (UTC)", [f"{_utc(i.created_at):%Y-%m-%d %H:%M}" for i in infos]),
    ]
    for key, values in zip(frame.index, frame.to_numpy(dtype=object), strict=True):
        label, is_score = _compare_label(str(key))
        texts = [score_text(v, decimals) if is_score else plain_text(v, COMPARE_CELL_CHARS) for v in values]
        body.append((label, texts))
    head = "".join(f"<th>v{i.version}</th>" for i in infos)
    lines = []
    for label, texts in body:
        if not any(texts):
            continue  # nobody has a value: nothing to read
        differs = len(set(texts)) > 1
        attrs = f' class="aims-differs" style="{DIFFERS_STYLE}"' if differs else ""
        cells = "".join(f"<td>{html.escape(t)}</td>" for t in texts)
        mark = '<td title="the versions differ">≠</td>' if differs else "<td></td>"
        lines.append(f"<tr{attrs}>{mark}<th>{html.escape(label)}</th>{cells}</tr>")
    return (
        f'<div class="aims-compare">{note}<table><thead><tr><th title="≠: the versions differ">≠</th>'
        f"<th></th>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
        "<p><small>≠ marks the rows where the versions differ; a blank cell has no value.</small></p></div>"
    )


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
