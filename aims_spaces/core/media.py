"""Encoded media at the boundaries: what clients send, how the hub checks and decodes it.

Maintained decoders only (Pillow, libsndfile through soundfile, FFmpeg through PyAV); nothing is
executed. Every decode is bounded by :class:`~.limits.DecodeLimits`: the format is recognised
from the file's first bytes and must be on an allow-list before a decoder sees it, what the
header declares (pixels, channels, duration, frames) is checked before anything is decoded, and
decoding keeps count, so a header that lies stops at the same limits.

Only bytes are decoded. A path is read only where the caller says paths are welcome
(``paths=True``: the participant's own files, on the participant's machine); in data the hub
receives, a string is refused, never opened.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ..domain import ColumnType, InputType
from ..errors import InvalidInput
from .limits import DEFAULT_LIMITS, DecodeLimits, mib, over_limit, setting
from .tabular import text_frame, to_frame


def _not_a_path(what: str, kind: str) -> InvalidInput:
    return InvalidInput(f"{what}: expected an encoded {kind}; a path or text is not accepted")


def _check_size(data: bytes, what: str, limits: DecodeLimits) -> None:
    if len(data) > limits.bytes_of("max_media_mb"):
        raise InvalidInput(
            over_limit(what, f"is {mib(len(data))}", "max_media_mb", f"{limits.max_media_mb:,g} MiB")
        )


def _sniff(data: bytes, signatures: dict[str, Callable[[bytes], bool]]) -> str | None:
    return next((name for name, matches in signatures.items() if matches(data)), None)


# --- images -------------------------------------------------------------------------------

# Formats recognised by their first bytes, to say what a refused file is.
_IMAGE_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "PNG": lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    "JPEG": lambda d: d.startswith(b"\xff\xd8\xff"),
    "GIF": lambda d: d[:6] in (b"GIF87a", b"GIF89a"),
    "BMP": lambda d: d.startswith(b"BM"),
    "WEBP": lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP",
    "TIFF": lambda d: d[:4] in (b"II*\x00", b"MM\x00*"),
    "ICO": lambda d: d[:4] == b"\x00\x00\x01\x00",
    "PSD": lambda d: d.startswith(b"8BPS"),
    "EPS": lambda d: d.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")),
    "JPEG2000": lambda d: d.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")),
    "AVIF": lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"avif", b"avis"),
    "HEIF": lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"heic", b"heix", b"mif1", b"msf1"),
}


def encode_image(
    value: Any, what: str = "image", *, paths: bool = True, limits: DecodeLimits | None = None
) -> bytes:
    """PNG bytes of a PIL image, an array (H, W[, C]; uint8, or floats in [0, 1]), a path
    (``paths=True``) or already-encoded bytes (checked by decoding them within ``limits``)."""
    if isinstance(value, (bytes, bytearray)):
        decode_image(bytes(value), what=what, limits=limits)
        return bytes(value)
    if isinstance(value, (str, Path)):
        if not paths:
            raise _not_a_path(what, "image")
        return encode_image(Path(value).read_bytes(), what, limits=limits)
    if isinstance(value, Image.Image):
        img = value
    else:
        arr = np.asarray(value)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
            raise InvalidInput(
                f"{what}: expected an image array (H, W) or (H, W, 1|3|4), got shape {arr.shape}"
            )
        if arr.dtype.kind == "f":
            arr = np.clip(arr * 255.0, 0, 255)
        arr = arr.astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        img = Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def decode_image(value: Any, what: str = "image", *, limits: DecodeLimits | None = None) -> Image.Image:
    """A PIL image from encoded bytes (or a PIL image / array, passed through).

    The format must be one of ``limits.image_formats`` and width × height at most
    ``limits.max_image_pixels``, both read from the header before any pixel is decoded. Of an
    animated image (GIF, APNG, WebP) only the first frame is decoded.

    Raises:
        InvalidInput: not an image in an accepted format, or over a limit.
    """
    if isinstance(value, Image.Image):
        return value
    if isinstance(value, np.ndarray) and value.dtype != object:
        return Image.open(io.BytesIO(encode_image(value, what)))
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded image, got {type(value).__name__}")
    limits = limits or DEFAULT_LIMITS
    data = bytes(value)
    _check_size(data, what, limits)
    formats = limits.image_formats
    try:
        img = Image.open(io.BytesIO(data), formats=formats)
        pixels = img.width * img.height
        if pixels > limits.max_image_pixels:
            raise InvalidInput(
                over_limit(
                    what,
                    f"has {img.width:,}×{img.height:,} = {pixels:,} pixels",
                    "max_image_pixels",
                    f"{limits.max_image_pixels:,}",
                )
            )
        frames = getattr(img, "n_frames", 1)
        if frames > limits.max_image_frames:
            raise InvalidInput(
                over_limit(what, f"has {frames:,} frames", "max_image_frames", f"{limits.max_image_frames:,}")
            )
        img.load()  # the first frame only
    except InvalidInput:
        raise
    except Image.DecompressionBombError:  # Pillow's own, larger limit, checked as it opens
        raise InvalidInput(
            over_limit(
                what,
                f"has more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels",
                "max_image_pixels",
                f"{limits.max_image_pixels:,}",
            )
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        found = _sniff(data, _IMAGE_SIGNATURES)
        if found is not None and found not in formats:
            raise InvalidInput(
                f"{what} is in {found} format; the hub takes {', '.join(formats)} "
                f"({setting('image_formats')})"
            ) from None
        raise InvalidInput(
            f"{what} is not an image Pillow can read (the hub takes {', '.join(formats)})"
        ) from None
    return img


# --- sound --------------------------------------------------------------------------------

# libsndfile format names by the file's first bytes; libsndfile is only given a file whose
# family is allowed, so it never guesses among the dozens of formats it knows.
_SOUND_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "WAV": lambda d: d[:4] in (b"RIFF", b"RIFX") and d[8:12] == b"WAVE",
    "FLAC": lambda d: d.startswith(b"fLaC"),
    "OGG": lambda d: d.startswith(b"OggS"),
    "RF64": lambda d: d[:4] == b"RF64" and d[8:12] == b"WAVE",
    "AIFF": lambda d: d[:4] == b"FORM" and d[8:12] in (b"AIFF", b"AIFC"),
    "CAF": lambda d: d.startswith(b"caff"),
    "MPEG": lambda d: d.startswith(b"ID3") or (len(d) > 1 and d[0] == 0xFF and d[1] & 0xE0 == 0xE0),
}
_SOUND_FAMILY = {"WAVEX": "WAV"}  # libsndfile's name for a WAV file with an extensible header
_AUDIO_BLOCK_SAMPLES = 2**20  # decoded per read: memory grows with what the file really holds
_UNKNOWN_LENGTH = 2**63 - 1  # libsndfile's frame count of a stream that does not declare one


def encode_audio(
    value: Any, what: str = "audio", *, paths: bool = True, limits: DecodeLimits | None = None
) -> bytes:
    """WAV bytes of ``(samples, sample_rate)``, ``{"array": ..., "sampling_rate": ...}`` (the
    `datasets` audio form), a path (``paths=True``), or already-encoded bytes (checked by
    decoding them within ``limits``)."""
    import soundfile

    if isinstance(value, (bytes, bytearray)):
        decode_audio(bytes(value), what=what, limits=limits)
        return bytes(value)
    if isinstance(value, (str, Path)):
        if not paths:
            raise _not_a_path(what, "sound")
        return encode_audio(Path(value).read_bytes(), what, limits=limits)
    if isinstance(value, dict) and {"array", "sampling_rate"} <= set(value):
        value = (value["array"], value["sampling_rate"])
    if not (isinstance(value, tuple) and len(value) == 2):
        raise InvalidInput(f"{what}: give (samples, sample_rate), a WAV/FLAC file or its bytes")
    samples, rate = np.asarray(value[0]), int(value[1])
    if samples.ndim not in (1, 2) or samples.size == 0:
        raise InvalidInput(f"{what}: samples must be a non-empty 1-D (or samples×channels) array")
    buf = io.BytesIO()
    soundfile.write(buf, samples.astype(np.float32), rate, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def decode_audio(
    value: Any, what: str = "audio", *, limits: DecodeLimits | None = None
) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)`` of encoded sound, float32, ``(frames,)`` for mono and
    ``(frames, channels)`` otherwise.

    The format (one of ``limits.audio_formats``), channels, sample rate, duration and total
    samples are checked from the header before reading; reading then takes blocks and stops at
    the limits whatever the header said.

    Raises:
        InvalidInput: not a sound in an accepted format, or over a limit.
    """
    import soundfile

    if isinstance(value, tuple) and len(value) == 2:
        return np.asarray(value[0], dtype=np.float32), int(value[1])
    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded sound file, got {type(value).__name__}")
    limits = limits or DEFAULT_LIMITS
    data = bytes(value)
    _check_size(data, what, limits)
    allowed = limits.audio_formats
    found = _sniff(data, _SOUND_SIGNATURES)
    if found is None:
        raise InvalidInput(f"{what} is not a sound file the hub reads ({', '.join(allowed)})")
    if not {found, *(k for k, v in _SOUND_FAMILY.items() if v == found)} & set(allowed):
        raise _sound_refused(what, found, allowed)
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            if f.format not in allowed:
                raise _sound_refused(what, f.format, allowed)
            rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            if channels > limits.max_audio_channels:
                raise InvalidInput(
                    over_limit(
                        what,
                        f"has {channels:,} channels",
                        "max_audio_channels",
                        f"{limits.max_audio_channels:,}",
                    )
                )
            if rate > limits.max_audio_sample_rate:
                raise InvalidInput(
                    over_limit(
                        what,
                        f"is sampled at {rate:,} Hz",
                        "max_audio_sample_rate",
                        f"{limits.max_audio_sample_rate:,} Hz",
                    )
                )
            if rate < 1 or channels < 1:
                raise InvalidInput(f"{what} is not a sound file the hub reads: its header is invalid")
            most = min(int(limits.max_audio_seconds * rate), limits.max_audio_samples // channels)
            unknown = frames >= _UNKNOWN_LENGTH  # a stream that does not say: read up to the limits
            if not unknown:
                _check_sound_length(what, frames, rate, channels, limits)
            blocks: list[np.ndarray] = []
            n, step, end = 0, max(1, _AUDIO_BLOCK_SAMPLES // channels), min(frames, most)
            while n < end:
                block = f.read(min(step, end - n), dtype="float32")
                if not len(block):
                    break
                blocks.append(block)
                n += len(block)
            if unknown and n == most and len(f.read(1, dtype="float32")):
                _check_sound_length(what, most + 1, rate, channels, limits, more=True)
    except InvalidInput:
        raise
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError, EOFError):
        raise InvalidInput(f"{what} is not a sound file the hub reads ({', '.join(allowed)})") from None
    if len(blocks) == 1:
        return blocks[0], rate
    if not blocks:
        return np.zeros((0,) if channels == 1 else (0, channels), dtype=np.float32), rate
    return np.concatenate(blocks), rate


def _check_sound_length(
    what: str, frames: int, rate: int, channels: int, limits: DecodeLimits, *, more: bool = False
) -> None:
    than = "more than " if more else ""
    if frames > limits.max_audio_seconds * rate:
        seconds = limits.max_audio_seconds if more else frames / rate
        raise InvalidInput(
            over_limit(
                what, f"lasts {than}{seconds:,.1f} s", "max_audio_seconds", f"{limits.max_audio_seconds:,g} s"
            )
        )
    if frames * channels > limits.max_audio_samples:
        samples = limits.max_audio_samples if more else frames * channels
        raise InvalidInput(
            over_limit(
                what,
                f"has {than}{samples:,} samples ({channels} channel{'s' if channels > 1 else ''})",
                "max_audio_samples",
                f"{limits.max_audio_samples:,}",
            )
        )


def _sound_refused(what: str, found: str, allowed: tuple[str, ...]) -> InvalidInput:
    return InvalidInput(
        f"{what} is in {found} format; the hub takes {', '.join(allowed)} ({setting('audio_formats')})"
    )


# --- video --------------------------------------------------------------------------------

# The containers a video may use, recognised by their first bytes, and the FFmpeg demuxer that
# reads each: FFmpeg never probes, so a playlist (HLS), a concat list, an image sequence or any
# other of its ~300 demuxers is never chosen for uploaded bytes.
_VIDEO_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "mp4": lambda d: d[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"),
    "matroska": lambda d: d.startswith(b"\x1a\x45\xdf\xa3"),
    "avi": lambda d: d[:4] == b"RIFF" and d[8:12] in (b"AVI ", b"AVIX"),
}
_DEMUXERS = {"mp4": "mov", "matroska": "matroska", "avi": "avi"}
_NOT_VIDEO_FILES: dict[str, Callable[[bytes], bool]] = {
    "an HLS playlist": lambda d: d.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U"),
    "an FFmpeg concat list": lambda d: d.lstrip().startswith(b"ffconcat"),
    "an MPEG-TS stream": lambda d: len(d) > 376 and d[0] == d[188] == d[376] == 0x47,
}
# Decoders FFmpeg may have for an allowed codec beyond the one of the same name.
_EXTRA_DECODERS = {"av1": ("libdav1d",)}


def encode_video(
    value: Any,
    what: str = "video",
    fps: int = 8,
    *,
    paths: bool = True,
    limits: DecodeLimits | None = None,
) -> bytes:
    """MP4 (H.264) bytes of frames — an array (T, H, W[, C]) or a list of images — or of a path
    (``paths=True``) or already-encoded bytes (checked by decoding them within ``limits``)."""
    import av

    if isinstance(value, (bytes, bytearray)):
        decode_video(bytes(value), what=what, limits=limits)
        return bytes(value)
    if isinstance(value, (str, Path)):
        if not paths:
            raise _not_a_path(what, "video")
        return encode_video(Path(value).read_bytes(), what, limits=limits)
    frames = [
        np.asarray(decode_image(f, what).convert("RGB")) if isinstance(f, Image.Image) else np.asarray(f)
        for f in value
    ]
    if not frames:
        raise InvalidInput(f"{what}: no frames")
    first = frames[0]
    if first.ndim not in (2, 3):
        raise InvalidInput(f"{what}: frames must be (H, W) or (H, W, 3) arrays, got shape {first.shape}")
    h, w = first.shape[:2]
    if h % 2 or w % 2:
        raise InvalidInput(f"{what}: frame width and height must be even for H.264, got {w}×{h}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}  # lossless: decoded pixels match
        for f in frames:
            scaled = f.astype(np.float64) * 255 if f.dtype.kind == "f" else f
            arr: np.ndarray[Any, np.dtype[np.uint8]] = np.clip(scaled, 0, 255).astype(np.uint8)
            if arr.ndim == 2:
                arr = np.repeat(arr[:, :, None], 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_video(value: Any, what: str = "video", *, limits: DecodeLimits | None = None) -> list[Image.Image]:
    """The frames of an encoded video, as RGB images.

    The container (one of ``limits.video_containers``, recognised from the first bytes) picks
    the FFmpeg demuxer; FFmpeg may open no other file or URL, and demuxers and decoders outside
    the allow-lists are switched off. The first video stream's codec, frame size and declared
    frame count are checked before decoding; decoding stops with an error at
    ``limits.max_video_frames`` frames or ``limits.max_video_pixels`` pixels.

    Raises:
        InvalidInput: not a video in an accepted container and codec, or over a limit.
    """
    import av

    if not isinstance(value, (bytes, bytearray)):
        raise InvalidInput(f"{what}: expected an encoded video file, got {type(value).__name__}")
    limits = limits or DEFAULT_LIMITS
    data = bytes(value)
    _check_size(data, what, limits)
    allowed = limits.video_containers
    container_name = _sniff(data, _VIDEO_SIGNATURES)
    if container_name is None or container_name not in allowed:
        found = f"in the {container_name} container" if container_name else _sniff(data, _NOT_VIDEO_FILES)
        raise InvalidInput(
            f"{what} is {found + ', ' if found else ''}not a video file the hub reads; it takes "
            f"{', '.join(allowed)} ({setting('video_containers')})"
        )
    codecs = limits.video_codecs
    options = {
        "format_whitelist": ",".join(_DEMUXERS[c] for c in allowed if c in _DEMUXERS),
        "codec_whitelist": ",".join([*codecs, *(d for c in codecs for d in _EXTRA_DECODERS.get(c, ()))]),
        "protocol_whitelist": "none",  # no second file or URL: drefs, playlists, includes
        "enable_drefs": "0",
        "use_absolute_path": "0",
        "max_streams": "32",
        "max_pixels": str(limits.max_video_frame_pixels),  # the decoders FFmpeg opens to probe
    }
    frames: list[Image.Image] = []
    try:
        with av.open(
            io.BytesIO(data), mode="r", format=_DEMUXERS[container_name], options=options
        ) as container:
            if not container.streams.video:
                raise InvalidInput(f"{what}: the file has no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            if context is None:
                raise InvalidInput(f"{what} is not a video FFmpeg can read: no decoder for its stream")
            codec = context.codec.canonical_name
            if codec not in codecs:
                raise InvalidInput(
                    f"{what} is {codec} video; the hub takes {', '.join(codecs)} ({setting('video_codecs')})"
                )
            _check_frame(what, context.width, context.height, limits)
            declared = int(stream.frames or 0)
            if declared > limits.max_video_frames:
                raise _too_many_frames(what, f"has {declared:,} frames", limits)
            if declared * context.width * context.height > limits.max_video_pixels:
                raise _too_many_pixels(
                    what, f"has {declared * context.width * context.height:,} pixels", limits
                )
            context.options = {**context.options, "max_pixels": str(limits.max_video_frame_pixels)}
            pixels = 0
            for frame in container.decode(stream):
                if len(frames) == limits.max_video_frames:
                    raise _too_many_frames(what, f"has more than {limits.max_video_frames:,} frames", limits)
                _check_frame(what, frame.width, frame.height, limits)
                pixels += frame.width * frame.height
                if pixels > limits.max_video_pixels:
                    raise _too_many_pixels(what, f"has more than {limits.max_video_pixels:,} pixels", limits)
                frames.append(frame.to_image())
    except InvalidInput:
        raise
    except (av.FFmpegError, ValueError, OSError):
        raise InvalidInput(f"{what} is not a video FFmpeg can read ({container_name})") from None
    if not frames:
        raise InvalidInput(f"{what}: the video has no frames")
    return frames


def _check_frame(what: str, width: int, height: int, limits: DecodeLimits) -> None:
    if width * height > limits.max_video_frame_pixels:
        raise InvalidInput(
            over_limit(
                what,
                f"has frames of {width:,}×{height:,} pixels",
                "max_video_frame_pixels",
                f"{limits.max_video_frame_pixels:,} pixels a frame",
            )
        )


def _too_many_frames(what: str, has: str, limits: DecodeLimits) -> InvalidInput:
    return InvalidInput(over_limit(what, has, "max_video_frames", f"{limits.max_video_frames:,}"))


def _too_many_pixels(what: str, has: str, limits: DecodeLimits) -> InvalidInput:
    return InvalidInput(
        over_limit(what, f"{has} over all its frames", "max_video_pixels", f"{limits.max_video_pixels:,}")
    )


# --- columns of media ---------------------------------------------------------------------


def from_base64(value: Any, what: str) -> bytes:
    """Bytes from base64 text, with or without a ``data:<type>;base64,`` prefix."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: expected base64 text, got {type(value).__name__}")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: not valid base64") from None


def media_frame(
    data: Any,
    kind: ColumnType,
    what: str,
    error: type[InvalidInput] = InvalidInput,
    *,
    paths: bool = False,
    limits: DecodeLimits | None = None,
) -> pd.DataFrame:
    """Media as a one-column table of encoded bytes (column named for the kind), every file
    checked by decoding it within ``limits``.

    Args:
        paths: read a ``str`` or ``Path`` value as the path of a file. Only for the participant's
            own files on the participant's machine; the hub leaves it off, so a string in data
            it received is refused, never opened.
    """
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise error(f"{what} of an {kind.value} playground must be one column, got {data.shape[1]}")
        name, values = str(data.columns[0]), data.iloc[:, 0].tolist()
    else:
        name, values = kind.value, list(data)
    if not values:
        raise error(f"{what} is empty")
    encode = {ColumnType.IMAGE: encode_image, ColumnType.AUDIO: encode_audio, ColumnType.VIDEO: encode_video}[
        kind
    ]
    encoded = []
    for i, v in enumerate(values):
        try:
            encoded.append(encode(v, f"{what} row {i}", paths=paths, limits=limits))
        except InvalidInput as e:
            raise error(e.message) from None
    return pd.DataFrame({name: pd.Series(encoded, dtype=object)})


MEDIA_COLUMNS = {
    InputType.IMAGE: ColumnType.IMAGE,
    InputType.AUDIO: ColumnType.AUDIO,
    InputType.VIDEO: ColumnType.VIDEO,
}


def frame_for(
    input_type: InputType, *, paths: bool = False, limits: DecodeLimits | None = None
) -> Callable[..., pd.DataFrame]:
    """How inputs of a playground's type (eval features, example data, rows to predict) become a
    table: columns as given (tabular), one ``text`` column, or one column of encoded media.

    ``paths`` and ``limits`` are :func:`media_frame`'s: the client passes ``paths=True`` for
    its user's files; the hub passes its limits and never ``paths``.
    """
    if input_type is InputType.TEXT:
        return text_frame
    if input_type in MEDIA_COLUMNS:
        kind = MEDIA_COLUMNS[input_type]

        def frame(data: Any, what: str, error: type[InvalidInput] = InvalidInput) -> pd.DataFrame:
            return media_frame(data, kind, what, error, paths=paths, limits=limits)

        return frame
    return to_frame
