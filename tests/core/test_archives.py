"""Media files out of a zip archive: sorted by name, folders and macOS leftovers skipped, and
every limit held whatever the archive's headers say."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from aims_spaces.core.archives import media_column_from_zip
from aims_spaces.errors import InvalidEvalData

LIMITS = {"max_files": 100, "max_total_bytes": 2**20, "max_file_bytes": 2**16}
SETTINGS = {
    "max_files": "AIMS_MAX_TABLE_ROWS",
    "max_total_bytes": "AIMS_MAX_UPLOAD_MB",
    "max_file_bytes": "AIMS_MAX_MEDIA_MB",
}
_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, content in members.items():
            z.writestr(name, content)  # a name ending in "/" is a folder
    return buf.getvalue()


def patch_headers(data: bytes, *, size: int | None = None, crc: int | None = None, flag: int = 0) -> bytes:
    """``data`` (a one-member zip) with the member's uncompressed size, CRC and flag bits rewritten
    in both its local header and its central-directory record."""
    out = bytearray(data)
    local, central = out.index(_LOCAL), out.index(_CENTRAL)
    # Local header: flags at 6, CRC at 14, uncompressed size at 22; central record: 8, 16, 24.
    for start, flags_at, crc_at, size_at in ((local, 6, 14, 22), (central, 8, 16, 24)):
        (flags,) = struct.unpack_from("<H", out, start + flags_at)
        struct.pack_into("<H", out, start + flags_at, flags | flag)
        if crc is not None:
            struct.pack_into("<I", out, start + crc_at, crc)
        if size is not None:
            struct.pack_into("<I", out, start + size_at, size)
    return bytes(out)


def test_files_come_sorted_by_name_with_folders_and_macos_leftovers_skipped():
    data = make_zip(
        {
            "b.png": b"B",
            "a.png": b"A",
            "c/": b"",
            "c/0.png": b"C0",
            "10.png": b"TEN",
            "9.png": b"NINE",
            "__MACOSX/._a.png": b"resource fork",
            "__MACOSX/c/._0.png": b"resource fork",
            ".DS_Store": b"finder",
            "c/._0.png": b"apple double",
            ".hidden/x.png": b"hidden folder",
        }
    )
    # Sorted by the whole name, as text: "10.png" before "9.png", the folder's file last.
    assert media_column_from_zip(data, **LIMITS) == [b"TEN", b"NINE", b"A", b"B", b"C0"]


def test_stored_entries_and_a_zip_inside_the_zip_are_just_bytes():
    inner = make_zip({"x.png": b"inner"})
    data = make_zip({"1.bin": b"\x00" * 10, "2.zip": inner}, compression=zipfile.ZIP_STORED)
    assert media_column_from_zip(data, **LIMITS) == [b"\x00" * 10, inner]


def test_more_entries_than_the_limit_are_refused_naming_it():
    data = make_zip({f"{i}.png": b"x" for i in range(5)})
    assert len(media_column_from_zip(data, **{**LIMITS, "max_files": 5})) == 5
    with pytest.raises(InvalidEvalData, match=r"more than 4 entries.*at most 4 files.*AIMS_MAX_TABLE_ROWS"):
        media_column_from_zip(data, **{**LIMITS, "max_files": 4}, settings=SETTINGS, what="eval_features")


def test_skipped_entries_count_toward_the_entry_limit():
    data = make_zip({"a.png": b"a", "__MACOSX/._a.png": b"r", "d/": b"", ".DS_Store": b"f"})
    with pytest.raises(InvalidEvalData, match="entries"):
        media_column_from_zip(data, **{**LIMITS, "max_files": 3})


def test_a_file_declared_larger_than_the_limit_is_refused_before_reading():
    zeros = make_zip({"big.wav": b"\x00" * 200_000})  # 200 kB of zeros: a few hundred bytes zipped
    assert len(zeros) < 2_000
    with pytest.raises(InvalidEvalData, match=r"big\.wav.*at most 0\.1 MiB per file.*AIMS_MAX_MEDIA_MB"):
        media_column_from_zip(zeros, **{**LIMITS, "max_file_bytes": 100_000}, settings=SETTINGS)


def test_a_member_whose_header_understates_its_size_is_refused():
    real = b"\x00" * 2**20  # a megabyte of zeros, about 1 kB deflated
    data = patch_headers(make_zip({"bomb.png": real}), size=100)
    with pytest.raises(InvalidEvalData, match=r"damaged.*bomb\.png"):
        media_column_from_zip(data, **{**LIMITS, "max_file_bytes": 1_000})
    # With a CRC that fits the declared bytes, the read stops at them: the rest of the stream is
    # never decompressed.
    consistent = patch_headers(make_zip({"bomb.png": real}), size=100, crc=zlib.crc32(real[:100]))
    assert media_column_from_zip(consistent, **{**LIMITS, "max_file_bytes": 1_000}) == [real[:100]]


def test_the_total_is_bounded_too():
    data = make_zip({f"{i}.png": bytes([i]) * 400 for i in range(3)})
    assert len(media_column_from_zip(data, **{**LIMITS, "max_total_bytes": 1_200})) == 3
    with pytest.raises(InvalidEvalData, match=r"more than .* once decompressed.*in all.*AIMS_MAX_UPLOAD_MB"):
        media_column_from_zip(data, **{**LIMITS, "max_total_bytes": 1_000}, settings=SETTINGS)


def test_an_encrypted_member_is_refused():
    data = patch_headers(make_zip({"secret.png": b"x" * 100}), flag=0x1)
    with pytest.raises(InvalidEvalData, match=r"secret\.png.*encrypted"):
        media_column_from_zip(data, **LIMITS)


def test_compression_methods_other_than_deflate_are_refused():
    data = make_zip({"a.png": b"x" * 1000}, compression=zipfile.ZIP_BZIP2)
    with pytest.raises(InvalidEvalData, match=r"bzip2.*stored or deflated"):
        media_column_from_zip(data, **LIMITS)


@pytest.mark.parametrize("data", [b"", b"label\nsetosa\n", b"PAR1 not a zip", b"PK\x03\x04 truncated"])
def test_something_else_than_a_zip_is_refused_in_words(data):
    with pytest.raises(InvalidEvalData, match=r"^eval_features is not a zip archive \(give the media files"):
        media_column_from_zip(data, **LIMITS, what="eval_features")


def test_an_archive_of_folders_only_is_refused():
    data = make_zip({"images/": b"", "__MACOSX/._x": b"r"})
    with pytest.raises(InvalidEvalData, match="holds no files"):
        media_column_from_zip(data, **LIMITS)


def test_a_corrupt_deflate_stream_is_refused_in_words():
    data = bytearray(make_zip({"a.png": bytes(range(256)) * 64}))
    start = data.index(_LOCAL) + 30 + len("a.png")
    data[start : start + 40] = b"\xff" * 40
    with pytest.raises(InvalidEvalData, match=r"damaged.*a\.png"):
        media_column_from_zip(bytes(data), **LIMITS)
