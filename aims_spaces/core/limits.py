"""How much one decode of untrusted data may cost: the bounds every table and media decoder in
``aims_spaces.core`` checks before (and while) it allocates.

A hostile upload is small on the wire and huge once decoded: a PNG that declares 10^10 pixels,
a Parquet column of one repeated megabyte, a FLAC header claiming days of sound, a video of 8K
frames. Each decoder reads the header first, compares what it declares with these limits, then
decodes with a running count, so neither a lying header nor a real bomb gets far past them.

The defaults suit a 2-core, 24 GiB machine: one decode stays well under ~1 GiB. The hub builds
:class:`DecodeLimits` from its settings (each field ``foo`` is the setting ``AIMS_FOO``) and
passes it in; code that passes nothing gets the defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIB = 2**20
# The containers a video may be recognised as (by its first bytes; see media.decode_video).
VIDEO_CONTAINERS = ("mp4", "matroska", "avi")


class LimitFields(BaseModel):
    """The fields of :class:`DecodeLimits`, shared with the hub's settings (which inherit them,
    so each is the setting ``AIMS_<FIELD>`` there)."""

    # --- tables (Parquet uploads, CSV files) -----------------------------------------------
    max_table_rows: int = Field(
        default=1_000_000, ge=1, description="Most rows of an uploaded table (Parquet or CSV)."
    )
    max_table_columns: int = Field(
        default=2_000, ge=1, description="Most columns of an uploaded table (Parquet or CSV)."
    )
    max_table_mb: float = Field(
        default=512,
        gt=0,
        description="Most MiB a Parquet table may hold once decompressed, and again once decoded "
        "into memory (a repeated value is counted every time it repeats).",
    )
    max_csv_mb: float = Field(
        default=64,
        gt=0,
        description="Largest CSV file in MiB (predictions, rows to predict); checked before parsing.",
    )
    # --- media, one encoded file each -------------------------------------------------------
    max_media_mb: float = Field(
        default=256,
        gt=0,
        description="Largest encoded image, sound or video file in MiB; checked before decoding.",
    )
    image_formats: tuple[str, ...] = Field(
        default=("PNG", "JPEG", "GIF", "BMP", "WEBP"),
        min_length=1,
        description="Pillow formats an image may have. TIFF is left out: many codecs, rarely "
        "needed for ML inputs, and the largest history of decoder bugs.",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Most pixels (width × height) of an image, checked from its header before "
        "decoding (40 MP is 160 MB as RGBA). Pillow's own limit, about 179 MP, applies too.",
    )
    max_image_frames: int = Field(
        default=1_000,
        ge=1,
        description="Most frames of an animated image (GIF, APNG, WebP); only the first is decoded.",
    )
    audio_formats: tuple[str, ...] = Field(
        default=("WAV", "WAVEX", "FLAC", "OGG"),
        min_length=1,
        description="libsndfile formats a sound may have (WAVEX is WAV with an extensible "
        "header; OGG holds Vorbis or Opus).",
    )
    max_audio_seconds: float = Field(default=600, gt=0, description="Longest sound, in seconds.")
    max_audio_channels: int = Field(default=8, ge=1, description="Most channels of a sound.")
    max_audio_sample_rate: int = Field(
        default=192_000, ge=1, description="Highest sample rate of a sound, in Hz."
    )
    max_audio_samples: int = Field(
        default=64_000_000,
        ge=1,
        description="Most samples of a sound over all channels (frames × channels): 64 M is "
        "256 MB as float32, and holds 10 minutes of 48 kHz stereo.",
    )
    video_containers: tuple[str, ...] = Field(
        default=("mp4", "matroska", "avi"),
        min_length=1,
        description="Containers a video may use, recognised by their first bytes: mp4 (ISO "
        "media: MP4, MOV, M4V, 3GP), matroska (MKV, WebM), avi. Playlists (HLS), concat "
        "lists, image sequences and every other FFmpeg demuxer are refused.",
    )
    video_codecs: tuple[str, ...] = Field(
        default=("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mjpeg"),
        min_length=1,
        description="FFmpeg codecs a video stream may use: what cameras, phones, browsers and "
        "the usual datasets (MP4, WebM, AVI clips) produce.",
    )
    max_video_frames: int = Field(default=10_000, ge=1, description="Most frames decoded from one video.")
    max_video_frame_pixels: int = Field(
        default=3840 * 2160,
        ge=1,
        description="Most pixels (width × height) of one video frame (4K UHD).",
    )
    max_video_pixels: int = Field(
        default=200_000_000,
        ge=1,
        description="Most pixels decoded from one video over all its frames: 200 M is 600 MB "
        "of RGB frames, e.g. a minute of 360p or 10 s of 720p at 20 frames per second.",
    )

    @field_validator("image_formats", "audio_formats", mode="after")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.upper() for v in value)

    @field_validator("video_codecs", mode="after")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.lower() for v in value)

    @field_validator("video_containers", mode="after")
    @classmethod
    def _known_containers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(v.lower() for v in value)
        unknown = sorted(set(value) - set(VIDEO_CONTAINERS))
        if unknown:
            raise ValueError(f"unknown video container(s) {unknown}; known: {list(VIDEO_CONTAINERS)}")
        return value

    def bytes_of(self, field: str) -> int:
        """A ``*_mb`` limit in bytes."""
        return int(float(getattr(self, field)) * MIB)


class DecodeLimits(LimitFields):
    """Bounds on decoding one table or one media file. Every field ``foo`` is ``AIMS_FOO``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def of(cls, source: object) -> DecodeLimits:
        """The limits an object with the same fields holds (the hub's settings)."""
        return cls(**{name: getattr(source, name) for name in LimitFields.model_fields})


DEFAULT_LIMITS = DecodeLimits()


def setting(field: str) -> str:
    """The hub setting behind a :class:`DecodeLimits` field (``max_table_rows`` →
    ``AIMS_MAX_TABLE_ROWS``), named in every refusal so an operator knows what to raise."""
    return f"AIMS_{field.upper()}"


def mib(n_bytes: float) -> str:
    """A size for messages: ``"3.1 MiB"``, ``"512 MiB"``."""
    return f"{n_bytes / MIB:,.1f} MiB" if n_bytes < 10 * MIB else f"{n_bytes / MIB:,.0f} MiB"


def over_limit(what: str, has: str, field: str, limit: str) -> str:
    """The refusal message: ``"<what> has …; the hub takes at most … (AIMS_…)"``."""
    return f"{what} {has}; the hub takes at most {limit} ({setting(field)})"


__all__ = [
    "DEFAULT_LIMITS",
    "MIB",
    "VIDEO_CONTAINERS",
    "DecodeLimits",
    "LimitFields",
    "mib",
    "over_limit",
    "setting",
]
