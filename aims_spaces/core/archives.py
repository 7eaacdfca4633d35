"""Media files out of an uploaded zip archive, within limits, in memory.

A teacher uploads a playground's images, sounds or videos as one ``.zip``: one file per eval
row, in the order of the files' names. A zip is also the oldest decompression bomb there is, so
:func:`media_column_from_zip` trusts nothing the archive says:

- the number of entries is bounded before :mod:`zipfile` parses the central directory (each
  entry becomes a Python object; a small archive can declare millions);
- each entry's declared size, and the declared total, are checked before anything is read;
- every member is then read in chunks with a running count (per file and in total), because
  declared sizes can lie;
- only stored and deflated entries are read (what every zip tool writes by default): deflate is
  decompressed a bounded chunk at a time, while :mod:`zipfile`'s bzip2 and LZMA readers expand a
  whole input chunk at once;
- encrypted entries are refused; a zip inside the zip is not opened (it is one file's bytes);
- nothing is extracted to disk and no member's name is ever used as a path: names only order
  the files, and say which ones to skip (folders, macOS ``__MACOSX/`` and dot files).

Whether each file really is an image, a sound or a video is checked afterwards by the media
decoders (:func:`aims_spaces.core.media.frame_for`), within their own limits.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping

from ..errors import InvalidEvalData
from .limits import mib

# Every central-directory record starts with this signature, so the number of times it occurs
# in the archive bounds the number of entries zipfile will make objects for.
_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"
_READABLE = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "deflate64", 93: "zstandard"}
_ENCRYPTED = 0x1
_CHUNK = 2**20


def media_column_from_zip(
    data: bytes,
    *,
    max_files: int,
    max_total_bytes: int,
    max_file_bytes: int,
    what: str = "the zip archive",
    settings: Mapping[str, str] | None = None,
) -> list[bytes]:
    """The files of a zip archive, in the sorted order of their names, as bytes.

    Folders, macOS resource forks (``__MACOSX/``) and dot files (``.DS_Store``, ``._x.png``,
    anything inside a folder whose name starts with a dot) are skipped.

    Args:
        data: the archive's bytes.
        max_files: most entries the archive may hold (skipped ones count: they are parsed too).
        max_total_bytes: most bytes all kept files may hold once decompressed.
        max_file_bytes: most bytes one file may hold once decompressed.
        what: how messages name the archive (``"eval_features"``).
        settings: the setting behind each limit, by argument name (``{"max_files":
            "AIMS_MAX_TABLE_ROWS"}``), named in the refusal so an operator knows what to raise.

    Returns:
        One ``bytes`` per kept file, sorted by the file's name (its path inside the archive).

    Raises:
        InvalidEvalData: not a zip archive, a damaged one, an encrypted or unsupported entry,
            no files at all, or over a limit (the message names the limit).
    """
    names = settings or {}

    def over(limit: str, has: str, most: str) -> InvalidEvalData:
        setting = f" ({names[limit]})" if limit in names else ""
        return InvalidEvalData(f"{what} {has}; the hub takes at most {most}{setting}")

    if data.count(_CENTRAL_DIRECTORY_SIGNATURE) > max_files:
        raise over("max_files", f"holds more than {max_files:,} entries", f"{max_files:,} files per archive")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
        raise InvalidEvalData(
            f"{what} is not a zip archive (give the media files as one .zip, one file per eval row)"
        ) from None
    with archive:
        entries = archive.infolist()
        if len(entries) > max_files:
            raise over("max_files", f"holds {len(entries):,} entries", f"{max_files:,} files per archive")
        members = sorted((e for e in entries if _kept(e)), key=lambda e: e.filename)
        if not members:
            raise InvalidEvalData(f"{what} holds no files (folders and hidden files are skipped)")
        declared = 0
        for member in members:
            _check_member(member, what)
            if member.file_size > max_file_bytes:
                raise over(
                    "max_file_bytes",
                    f"holds a file of {mib(member.file_size)} ({_shown(member.filename)})",
                    f"{mib(max_file_bytes)} per file",
                )
            declared += member.file_size
            if declared > max_total_bytes:
                raise over(
                    "max_total_bytes",
                    f"holds more than {mib(max_total_bytes)} once decompressed",
                    f"{mib(max_total_bytes)} in all",
                )
        files: list[bytes] = []
        total = 0
        for member in members:
            room = max_total_bytes - total
            try:
                content = _read_at_most(archive, member, min(max_file_bytes, room))
            except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError) as e:
                raise InvalidEvalData(
                    f"{what} is damaged: {_shown(member.filename)} does not read ({e})"
                ) from None
            if content is None and room < max_file_bytes:
                raise over(
                    "max_total_bytes",
                    f"holds more than {mib(max_total_bytes)} once decompressed (its headers say less)",
                    f"{mib(max_total_bytes)} in all",
                )
            if content is None:
                raise over(
                    "max_file_bytes",
                    f"holds a file larger than {mib(max_file_bytes)} once decompressed "
                    f"({_shown(member.filename)}; its header says less)",
                    f"{mib(max_file_bytes)} per file",
                )
            total += len(content)
            files.append(content)
    return files


def _read_at_most(archive: zipfile.ZipFile, member: zipfile.ZipInfo, cap: int) -> bytes | None:
    """The member's bytes, decompressed a chunk at a time, or None as soon as they pass ``cap``."""
    chunks: list[bytes] = []
    size = 0
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


def _kept(entry: zipfile.ZipInfo) -> bool:
    """A file to keep: not a folder, not macOS metadata, not hidden."""
    if entry.is_dir():
        return False
    parts = [p for p in entry.filename.replace("\\", "/").split("/") if p]
    return bool(parts) and not any(p == "__MACOSX" or p.startswith(".") for p in parts)


def _check_member(entry: zipfile.ZipInfo, what: str) -> None:
    if entry.flag_bits & _ENCRYPTED:
        raise InvalidEvalData(
            f"{what}: {_shown(entry.filename)} is encrypted; give an archive without a password"
        )
    if entry.compress_type not in _READABLE:
        method = _METHODS.get(entry.compress_type, f"method {entry.compress_type}")
        raise InvalidEvalData(
            f"{what}: {_shown(entry.filename)} is compressed with {method}; the hub reads stored or "
            "deflated entries (what zip tools write by default)"
        )


def _shown(name: str) -> str:
    """A member's name for a message: quoted, and short."""
    return repr(name if len(name) <= 80 else name[:79] + "…")


__all__ = ["media_column_from_zip"]
