"""Media decoders against bombs: each hostile file is refused with a message naming the limit
and its setting, before (or while) decoding, in bounded memory; ordinary files decode exactly as
before; a string is a path only where paths are welcome (the client), never on the hub."""

from __future__ import annotations

import functools
import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.media import (
    decode_audio,
    decode_image,
    decode_video,
    encode_audio,
    encode_image,
    encode_video,
    frame_for,
    media_frame,
)
from aims_spaces.domain import ColumnType, InputType
from aims_spaces.errors import InvalidEvalData, InvalidInput

PEAK_MB = 300  # what one refused decode may add to the process's peak memory

# Decodes each file of a manifest in turn in a fresh interpreter, and reports for each what it
# added to the peak memory (the kernel's high-water mark, reset before each decode).
_PEAK_SCRIPT = """
import ctypes, json, resource, sys
import av, soundfile, PIL.Image
from aims_spaces.core import media, tabular
from aims_spaces.core.limits import DecodeLimits
from aims_spaces.errors import InvalidInput


def peak_kb():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


results = {}
for name, item in json.loads(open(sys.argv[1]).read()).items():
    data = open(item["path"], "rb").read()
    limits = DecodeLimits.model_validate_json(item["limits"]) if item["limits"] else None
    decode = getattr(media if hasattr(media, item["decode"]) else tabular, item["decode"])
    try:  # give freed memory back and reset the peak, so earlier work does not hide this decode's
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = peak_kb()
    try:
        decode(data, "row 0", limits=limits)
        message = None
    except InvalidInput as e:
        message = e.message
    results[name] = {"peak_mb": (peak_kb() - before) / 1024, "message": message, "size": len(data)}
print(json.dumps(results))
"""


def decode_bombs(tmp_path: Path, bombs: dict[str, tuple[str, bytes, DecodeLimits | None]]) -> dict[str, str]:
    """Decode each bomb (name: decoder, bytes, limits) in one fresh interpreter; check each was
    refused and added less than PEAK_MB to the peak memory; return the messages by name."""
    manifest = {}
    for name, (decode, data, limits) in bombs.items():
        path = tmp_path / name
        path.write_bytes(data)
        manifest[name] = {
            "path": str(path),
            "decode": decode,
            "limits": limits.model_dump_json() if limits else "",
        }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    args = [sys.executable, "-c", _PEAK_SCRIPT, str(tmp_path / "manifest.json")]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300)
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for name, r in results.items():
        print(f"{name}: {r['size']:,} bytes, peak +{r['peak_mb']:.1f} MiB, {r['message']}")
        assert r["message"] is not None, f"{name} was decoded"
        assert r["peak_mb"] < PEAK_MB, name
    return {name: str(r["message"]) for name, r in results.items()}


# --- building bombs -------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, idat: bytes) -> bytes:
    """A greyscale PNG whose header declares ``width``×``height`` over the given pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def video(width: int, height: int, n: int, fmt: str = "matroska", codec: str = "libx264") -> bytes:
    """``n`` black frames; Matroska declares no frame count, MP4 does."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
        for _ in range(n):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def sound(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _patch_wav_fmt(wav: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(wav)
    at = out.find(b"fmt ") + 8 + offset
    out[at : at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(out)


def _flac_of_unknown_length(samples: np.ndarray, rate: int) -> bytes:
    flac = bytearray(sound(samples, rate, "FLAC"))
    # STREAMINFO's last 36 bits of its sample-rate word are the total samples; 0 means unknown.
    word = int.from_bytes(flac[18:26], "big") & ~((1 << 36) - 1)
    flac[18:26] = word.to_bytes(8, "big")
    return bytes(flac)


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every bomb, decoded in one fresh interpreter with its peak memory measured."""
    silence = np.zeros(8_000 * 60 * 25, np.int16)  # 25 minutes at 8 kHz
    bombs = {
        "png_10_gigapixels": (
            "decode_image",
            png_declaring(100_000, 100_000, zlib.compress(b"\x00" * 20_000_000, 9)),
            None,
        ),
        "png_64_megapixels": ("decode_image", png_declaring(8_000, 8_000, _zero_rows_8000()), None),
        "flac_25_minutes": ("decode_audio", sound(silence, 8_000, "FLAC"), None),
        "flac_unknown_length": ("decode_audio", _flac_of_unknown_length(silence, 8_000), None),
        "wav_1000_channels": (
            "decode_audio",
            _patch_wav_fmt(sound(np.zeros(1_000, np.int16), 8_000), 2, "<H", 1_000),
            None,
        ),
        "video_8k": ("decode_video", video(7_680, 4_320, 1), None),
        "video_4k_25_frames": ("decode_video", video(3_840, 2_160, 25, "mp4"), None),
        "video_720p_uncounted": (
            "decode_video",
            video(1_280, 720, 60),  # Matroska: no frame count in the header
            DecodeLimits(max_video_pixels=20_000_000),
        ),
        "hls_playlist": (
            "decode_video",
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
            None,
        ),
    }
    return decode_bombs(tmp_path_factory.mktemp("bombs"), bombs)


@functools.cache
def _zero_rows_8000() -> bytes:
    return zlib.compress(b"\x00" * (8_001 * 8_000), 9)


# --- ordinary files decode as before --------------------------------------------------------


def test_ordinary_images_round_trip_exactly():
    rng = np.random.default_rng(0)
    for arr in (
        rng.integers(0, 256, (28, 28), dtype=np.uint8),
        rng.integers(0, 256, (16, 24, 3), dtype=np.uint8),
        rng.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    ):
        img = decode_image(encode_image(arr))
        assert img.format == "PNG" and np.array_equal(np.asarray(img), arr)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(buf, format="JPEG")
    assert decode_image(buf.getvalue()).size == (10, 10)


def test_an_animated_image_gives_its_first_frame_and_its_frames_are_capped():
    frames = [Image.new("L", (4, 4), color=c) for c in (10, 120, 250)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    gif = buf.getvalue()
    img = decode_image(gif)
    assert np.asarray(img.convert("L")).max() == 10
    with pytest.raises(
        InvalidInput, match=r"row 0 has 3 frames; the hub takes at most 2 \(AIMS_MAX_IMAGE_FRAMES\)"
    ):
        decode_image(gif, "row 0", limits=DecodeLimits(max_image_frames=2))


def test_ordinary_sounds_round_trip_exactly():
    rng = np.random.default_rng(1)
    mono = rng.uniform(-1, 1, 16_000).astype(np.float32)
    stereo = rng.uniform(-1, 1, (8_000, 2)).astype(np.float32)
    for samples in (mono, stereo):
        wave, rate = decode_audio(encode_audio((samples, 16_000)))
        assert rate == 16_000 and wave.dtype == np.float32 and np.array_equal(wave, samples)
    long = rng.uniform(-1, 1, (3 * 2**20 // 2 + 5, 2)).astype(np.float32)  # read in several blocks
    wave, _ = decode_audio(sound(long, 44_100, subtype="FLOAT"))
    assert np.array_equal(wave, long)
    flac = sound((mono * 30_000).astype(np.int16), 16_000, "FLAC")
    wave, rate = decode_audio(flac)
    assert rate == 16_000 and wave.shape == (16_000,)


def test_ordinary_videos_round_trip_exactly():
    rng = np.random.default_rng(2)
    clip = rng.integers(0, 256, (5, 16, 24, 3), dtype=np.uint8)
    frames = decode_video(encode_video(clip))
    assert len(frames) == 5
    for frame, original in zip(frames, clip, strict=True):  # lossless H.264 but for RGB↔YUV rounding
        assert np.abs(np.asarray(frame).astype(int) - original).max() <= 2
    for data in (video(64, 48, 4, "avi", "mjpeg"), video(64, 48, 4, "webm", "libvpx-vp9"), video(64, 48, 4)):
        frames = decode_video(data)
        assert len(frames) == 4 and frames[0].size == (64, 48) and frames[0].mode == "RGB"


# --- images -----------------------------------------------------------------------------------


def test_a_png_declaring_ten_gigapixels_is_refused(refused):
    message = refused["png_10_gigapixels"]
    assert "row 0 has more than" in message and "(AIMS_MAX_IMAGE_PIXELS)" in message


def test_a_png_over_the_pixel_limit_is_refused_before_decoding(refused):
    assert refused["png_64_megapixels"] == (
        "row 0 has 8,000×8,000 = 64,000,000 pixels; the hub takes at most 40,000,000 (AIMS_MAX_IMAGE_PIXELS)"
    )
    bomb = png_declaring(8_000, 8_000, _zero_rows_8000())
    assert decode_image(bomb, limits=DecodeLimits(max_image_pixels=64_000_000)).size == (8_000, 8_000)


def test_image_formats_outside_the_allow_list_are_refused():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="TIFF")
    tiff = buf.getvalue()
    with pytest.raises(InvalidInput) as e:
        decode_image(tiff, "row 2")
    assert (
        e.value.message
        == "row 2 is in TIFF format; the hub takes PNG, JPEG, GIF, BMP, WEBP (AIMS_IMAGE_FORMATS)"
    )
    assert decode_image(tiff, limits=DecodeLimits(image_formats=("png", "tiff"))).size == (4, 4)
    with pytest.raises(InvalidInput, match="row 0 is not an image Pillow can read"):
        decode_image(b"\x89PNG broken", "row 0")


def test_a_file_over_the_media_size_limit_is_refused_before_decoding():
    small = DecodeLimits(max_media_mb=0.001)
    data = encode_image(np.zeros((64, 64), np.uint8)) + b"\x00" * 2_000
    with pytest.raises(InvalidInput, match=r"the hub takes at most 0.001 MiB \(AIMS_MAX_MEDIA_MB\)"):
        decode_image(data, limits=small)


# --- sound ------------------------------------------------------------------------------------


def test_a_flac_declaring_25_minutes_is_refused_from_its_header(refused):
    assert refused["flac_25_minutes"] == (
        "row 0 lasts 1,500.0 s; the hub takes at most 600 s (AIMS_MAX_AUDIO_SECONDS)"
    )


def test_a_flac_of_unknown_length_stops_at_the_limit(refused):
    assert refused["flac_unknown_length"] == (
        "row 0 lasts more than 600.0 s; the hub takes at most 600 s (AIMS_MAX_AUDIO_SECONDS)"
    )


def test_sample_and_channel_limits():
    stereo = sound(np.zeros((16_000, 2), np.int16), 16_000)
    with pytest.raises(InvalidInput) as e:
        decode_audio(stereo, "row 1", limits=DecodeLimits(max_audio_samples=20_000))
    assert e.value.message == (
        "row 1 has 32,000 samples (2 channels); the hub takes at most 20,000 (AIMS_MAX_AUDIO_SAMPLES)"
    )


def test_wav_headers_that_lie_are_refused_or_read_for_what_they_hold(refused):
    assert refused["wav_1000_channels"] == (
        "row 0 has 1,000 channels; the hub takes at most 8 (AIMS_MAX_AUDIO_CHANNELS)"
    )
    wav = sound(np.zeros(1_000, np.int16), 8_000)
    fast = _patch_wav_fmt(wav, 4, "<I", 2_000_000_000)
    with pytest.raises(
        InvalidInput, match=r"is sampled at 2,000,000,000 Hz; .* \(AIMS_MAX_AUDIO_SAMPLE_RATE\)"
    ):
        decode_audio(fast, "row 0")
    long = bytearray(wav)
    at = long.find(b"data") + 4
    long[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)  # claims 4 GB of samples
    wave, rate = decode_audio(bytes(long))
    assert rate == 8_000 and wave.shape == (1_000,)


def test_sound_formats_outside_the_allow_list_are_refused():
    aiff = sound(np.zeros(100, np.int16), 8_000, "AIFF")
    with pytest.raises(InvalidInput) as e:
        decode_audio(aiff, "row 0")
    assert (
        e.value.message == "row 0 is in AIFF format; the hub takes WAV, WAVEX, FLAC, OGG (AIMS_AUDIO_FORMATS)"
    )
    assert decode_audio(aiff, limits=DecodeLimits(audio_formats=("aiff",)))[0].shape == (100,)
    with pytest.raises(InvalidInput, match="row 0 is not a sound file"):
        decode_audio(b"RIFF but not really", "row 0")


# --- video ------------------------------------------------------------------------------------


def test_an_8k_video_is_refused_from_its_header(refused):
    assert refused["video_8k"] == (
        "row 0 has frames of 7,680×4,320 pixels; the hub takes at most 8,294,400 pixels a frame "
        "(AIMS_MAX_VIDEO_FRAME_PIXELS)"
    )


def test_a_video_declaring_too_many_pixels_is_refused_from_its_header(refused):
    assert refused["video_4k_25_frames"] == (
        "row 0 has 207,360,000 pixels over all its frames; the hub takes at most 200,000,000 "
        "(AIMS_MAX_VIDEO_PIXELS)"
    )


def test_decoding_stops_at_the_pixel_limit_when_the_header_does_not_count_frames(refused):
    assert refused["video_720p_uncounted"] == (
        "row 0 has more than 20,000,000 pixels over all its frames; the hub takes at most 20,000,000 "
        "(AIMS_MAX_VIDEO_PIXELS)"
    )


def test_frame_limit_from_the_header_and_while_decoding():
    limits = DecodeLimits(max_video_frames=50)
    with pytest.raises(InvalidInput) as e:
        decode_video(video(32, 32, 60, "mp4"), "row 0", limits=limits)
    assert e.value.message == "row 0 has 60 frames; the hub takes at most 50 (AIMS_MAX_VIDEO_FRAMES)"
    with pytest.raises(InvalidInput) as e:
        decode_video(video(32, 32, 60), "row 0", limits=limits)
    assert (
        e.value.message == "row 0 has more than 50 frames; the hub takes at most 50 (AIMS_MAX_VIDEO_FRAMES)"
    )
    assert len(decode_video(video(32, 32, 50), limits=limits)) == 50


def test_codecs_outside_the_allow_list_are_refused():
    ffv1 = video(32, 32, 2, codec="ffv1")
    with pytest.raises(InvalidInput) as e:
        decode_video(ffv1, "row 0")
    assert e.value.message == (
        "row 0 is ffv1 video; the hub takes h264, hevc, vp8, vp9, av1, mpeg4, mjpeg (AIMS_VIDEO_CODECS)"
    )
    assert len(decode_video(ffv1, limits=DecodeLimits(video_codecs=("ffv1",)))) == 2


def test_an_hls_playlist_is_never_given_to_ffmpeg(refused):
    assert refused["hls_playlist"] == (
        "row 0 is an HLS playlist, not a video file the hub reads; it takes mp4, matroska, avi "
        "(AIMS_VIDEO_CONTAINERS)"
    )


def test_a_concat_list_cannot_make_the_hub_read_its_own_files(tmp_path, monkeypatch):
    (tmp_path / "secret.mp4").write_bytes(encode_video(np.zeros((2, 16, 16, 3), np.uint8)))
    monkeypatch.chdir(tmp_path)
    concat = b"ffconcat version 1.0\nfile secret.mp4\n"
    with av.open(io.BytesIO(concat)) as container:  # what letting FFmpeg probe would do
        assert sum(1 for _ in container.decode(video=0)) == 2
    with pytest.raises(InvalidInput) as e:
        decode_video(concat, "row 0")
    assert e.value.message.startswith("row 0 is an FFmpeg concat list, not a video file the hub reads")
    assert "secret" not in e.value.message


def test_other_containers_and_broken_files_are_refused():
    with pytest.raises(InvalidInput, match=r"row 0 is not a video file the hub reads; it takes mp4"):
        decode_video(b"GIF89a" + b"\x00" * 100, "row 0")
    with pytest.raises(InvalidInput, match="row 0 is in the avi container, not a video file the hub reads"):
        decode_video(
            video(32, 32, 2, "avi", "mjpeg"), "row 0", limits=DecodeLimits(video_containers=("mp4",))
        )
    with pytest.raises(InvalidInput, match="row 0 is not a video FFmpeg can read"):
        decode_video(b"\x00\x00\x00\x18ftypmp42 broken", "row 0")
    with pytest.raises(ValueError, match="unknown video container"):
        DecodeLimits(video_containers=("hls",))


# --- paths --------------------------------------------------------------------------------------


def test_the_hub_never_opens_a_path_and_the_client_does(tmp_path):
    png = tmp_path / "digit.png"
    png.write_bytes(encode_image(np.full((4, 4), 7, np.uint8)))
    wav = tmp_path / "tone.wav"
    wav.write_bytes(encode_audio((np.zeros(100, np.float32), 8_000)))
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(encode_video(np.zeros((2, 16, 16, 3), np.uint8)))
    for input_type, path, kind in (
        (InputType.IMAGE, png, "image"),
        (InputType.AUDIO, wav, "sound"),
        (InputType.VIDEO, mp4, "video"),
    ):
        for value in (str(path), path, "/dev/zero"):
            with pytest.raises(InvalidEvalData) as e:
                frame_for(input_type)([value], "eval_features", InvalidEvalData)
            assert (
                e.value.message
                == f"eval_features row 0: expected an encoded {kind}; a path or text is not accepted"
            )
        client = frame_for(input_type, paths=True)([str(path), path], "X")
        assert list(client.iloc[:, 0]) == [path.read_bytes()] * 2
    with pytest.raises(InvalidInput, match="row 3: expected an encoded image; a path or text"):
        media_frame([png.read_bytes()] * 3 + ["digit.png"], ColumnType.IMAGE, "X")
