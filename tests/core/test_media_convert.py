"""Media that does not already fit the model is converted, not refused: sounds are mixed down and
resampled, pictures and video frames turned upright, converted and resized. The decode's limits
still refuse an oversized file first, and only what cannot be converted is refused, with a
message about that file."""

from __future__ import annotations

import io
import json
import re

import av
import numpy as np
import pytest
import soundfile
from PIL import Image
from sklearn.linear_model import LogisticRegression

from aims_spaces.core.limits import DecodeLimits
from aims_spaces.core.media import encode_audio, encode_video
from aims_spaces.core.preprocess import AudioSpec, ImageSpec, VideoSpec, _resample_factors, document, load
from aims_spaces.errors import InvalidInput, InvalidSpec
from apps.datasets import RATE, SECONDS, tones

WAVE = AudioSpec(sample_rate=RATE, duration_s=SECONDS)
MEL = AudioSpec(
    sample_rate=RATE, duration_s=SECONDS, features="log_mel", n_fft=256, hop_length=128, layout="flat"
)


def wav(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, format="WAV", subtype=subtype)
    return buf.getvalue()


def tone(hz: float, rate: int, seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def row(spec, value) -> np.ndarray:
    return load(document(spec)).feeds([value])[spec.input][0]


def test_a_sound_at_another_rate_is_resampled_to_the_models_rate():
    expected = row(WAVE, wav(tone(440, RATE), RATE, "FLOAT"))
    for rate in (44_100, 48_000, 16_000, 22_050, 44_101):
        got = row(WAVE, wav(tone(440, rate), rate))
        assert got.shape == (RATE * SECONDS,)
        inner = slice(100, -100)  # the filter's edges aside, the same waveform
        assert np.corrcoef(got[inner], expected[inner])[0, 1] > 0.999, rate
        assert np.abs(got[inner] - expected[inner]).max() < 0.02, rate


def test_a_stereo_recording_is_mixed_down_to_mono():
    left, right = tone(440, 48_000), 0.5 * tone(440, 48_000)
    stereo = row(WAVE, wav(np.stack([left, right], axis=1), 48_000))
    mono = row(WAVE, wav(tone(440, 48_000), 48_000))
    inner = slice(100, -100)
    np.testing.assert_allclose(stereo[inner], 0.75 * mono[inner], atol=2e-3)


def test_a_longer_sound_is_cut_and_a_shorter_one_padded_after_resampling():
    long = row(WAVE, wav(tone(440, 44_100, seconds=3.0), 44_100))
    short = row(WAVE, wav(tone(440, 44_100, seconds=0.2), 44_100))
    assert long.shape == short.shape == (RATE * SECONDS,)
    assert np.abs(long[-200:]).max() > 0.4  # sound to the end
    assert np.abs(short[int(0.2 * RATE) + 50 :]).max() == 0  # silence after the 0.2 s


def test_a_model_trained_at_8_khz_hears_a_44_1_khz_hum_and_a_48_khz_stereo_whistle():
    clips, labels = tones(120, 0)
    preprocessor = load(document(MEL))
    model = LogisticRegression(max_iter=2000).fit(
        preprocessor.feeds([encode_audio(c) for c in clips])[MEL.input], labels
    )
    hum = wav(tone(220, 44_100), 44_100)
    whistle = wav(np.stack([tone(1400, 48_000), tone(1400, 48_000)], axis=1), 48_000)
    assert list(model.predict(preprocessor.feeds([hum, whistle])[MEL.input])) == ["hum", "whistle"]


def test_resampling_factors_stay_small_and_exact_for_usual_rates():
    assert _resample_factors(44_100, 8_000) == (80, 441)
    assert _resample_factors(48_000, 8_000) == (1, 6)
    assert _resample_factors(8_000, 44_100) == (441, 80)
    for rate, target in ((44_101, 8_000), (7_919, 192_000), (192_000, 1_009), (240, 123_002)):
        up, down = _resample_factors(rate, target)
        assert max(up, down) <= 1000
        assert abs(rate * up / down / target - 1) < 1e-3


def test_only_what_cannot_be_converted_is_refused_and_the_message_names_the_file():
    with pytest.raises(InvalidInput, match=r"^row 0 is sampled at 5 Hz, too far from the 8,000 Hz"):
        row(WAVE, wav(np.zeros(20, np.float32), 5))
    with pytest.raises(InvalidInput, match=r"^row 0 is in the La colour mode, which cannot be converted"):
        row(ImageSpec(size=(4, 4), mode="L"), Image.new("La", (4, 4)))


def test_the_decode_limits_refuse_an_oversized_sound_before_any_conversion():
    limits = DecodeLimits(max_audio_seconds=1, max_audio_channels=2, max_audio_sample_rate=48_000)
    preprocessor = load(document(WAVE), limits=limits)
    refused = {
        "AIMS_MAX_AUDIO_SECONDS": wav(tone(440, 44_100, seconds=2.0), 44_100),
        "AIMS_MAX_AUDIO_CHANNELS": wav(np.zeros((4_800, 3), np.float32), 48_000),
        "AIMS_MAX_AUDIO_SAMPLE_RATE": wav(np.zeros(9_600, np.float32), 96_000),
    }
    for setting, data in refused.items():
        with pytest.raises(InvalidInput, match=rf"^row 0 .*\({setting}\)"):
            preprocessor.feeds([data])
    assert preprocessor.feeds([wav(tone(440, 48_000), 48_000)])[WAVE.input].shape == (1, RATE * SECONDS)


def png(img: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **params)
    return buf.getvalue()


def test_pictures_in_any_colour_mode_and_size_are_converted():
    grey = ImageSpec(size=(8, 8), mode="L", layout="flat", input="X")
    colour = ImageSpec(size=(8, 8), mode="RGB", layout="NHWC", input="X")
    white = Image.new("RGB", (32, 24), (255, 255, 255))
    jpeg = io.BytesIO()
    white.convert("CMYK").save(jpeg, format="JPEG")
    pictures = {
        "palette": png(white.convert("P")),
        "RGBA": png(white.convert("RGBA")),
        "grey with alpha": png(white.convert("LA")),
        "one bit": png(white.convert("1")),
        "CMYK JPEG": jpeg.getvalue(),
        "GIF": (lambda b: (white.save(b, format="GIF"), b.getvalue())[1])(io.BytesIO()),
    }
    for name, data in pictures.items():
        assert row(grey, data).shape == (64,), name
        assert row(grey, data).min() > 0.95, name
        assert row(colour, data).shape == (8, 8, 3), name
    # 16-bit grey is scaled to 8 bits, not clipped: half of full scale stays half.
    half = png(Image.fromarray(np.full((24, 32), 32_768, dtype=np.uint16)))
    assert Image.open(io.BytesIO(half)).mode == "I;16"
    np.testing.assert_allclose(row(grey, half), 128 / 255)


def test_a_photo_is_turned_upright_as_its_exif_orientation_says():
    wide = np.zeros((16, 32), dtype=np.uint8)
    wide[:, :16] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: the left half is on top
    buf = io.BytesIO()
    Image.fromarray(wide).save(buf, format="JPEG", exif=exif, quality=95)
    upright = row(ImageSpec(size=(16, 32), mode="L", layout="NHWC"), buf.getvalue())[:, :, 0]
    assert upright[:16].mean() > 0.9 and upright[16:].mean() < 0.1


def test_the_decode_limits_refuse_an_oversized_picture_before_resizing():
    spec = ImageSpec(size=(8, 8), mode="L")
    data = png(Image.new("L", (200, 100)))
    with pytest.raises(InvalidInput, match=r"^row 0 has 200×100 = 20,000 pixels; .*AIMS_MAX_IMAGE_PIXELS"):
        load(document(spec), limits=DecodeLimits(max_image_pixels=10_000)).feeds([data])
    assert load(document(spec)).feeds([data])[spec.input].shape == (1, 1, 8, 8)


def moving_square(frames: int, width: int, height: int) -> np.ndarray:
    clip = np.zeros((frames, height, width, 3), dtype=np.uint8)
    for i in range(frames):
        x = 2 + i * (width - 12) // max(frames - 1, 1)
        clip[i, height // 2 - 4 : height // 2 + 4, x : x + 8] = (200, 220, 240)
    return clip


def test_a_video_of_another_size_and_length_is_resized_and_sampled():
    spec = VideoSpec(frames=8, size=(16, 16), mode="L", layout="NTCHW", input="X")
    for frames, width, height in ((20, 64, 48), (3, 40, 30)):
        clip = row(spec, encode_video(moving_square(frames, width, height)))
        assert clip.shape == (8, 1, 16, 16)
        columns = clip[:, 0].sum(axis=1)  # brightness per column, per frame
        centres = (columns * np.arange(16)).sum(axis=1) / columns.sum(axis=1)
        assert centres[-1] > centres[0] + 4  # the square still moves right
        assert np.all(np.diff(centres) >= -0.5)


def test_the_decode_limits_refuse_an_oversized_video_before_resizing():
    spec = VideoSpec(frames=2, size=(16, 16), mode="L")
    data = encode_video(moving_square(4, 64, 48))
    with pytest.raises(
        InvalidInput, match=r"^row 0 has frames of 64×48 pixels; .*AIMS_MAX_VIDEO_FRAME_PIXELS"
    ):
        load(document(spec), limits=DecodeLimits(max_video_frame_pixels=1_000)).feeds([data])
    with av.open(io.BytesIO(data)) as container:  # the clip is what the test means it to be
        assert container.streams.video[0].codec_context.width == 64


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"frames": 4, "size": [5000, 64]}, "size must be between 1 and 4096 pixels per side"),
        ({"frames": 4, "size": [64, 64], "mode": "L", "mean": [0.5, 0.5, 0.5]}, "mean needs 1 value(s)"),
        ({"frames": 4, "size": [64, 64], "std": [1.0, 0.0, 1.0]}, "std values must not be 0"),
    ],
)
def test_a_video_spec_is_checked_as_its_frames_image_spec_would_be(spec, words):
    """A bad frame size or mean/std is an InvalidSpec naming it (it was an error the REST
    submission turned into a 500)."""
    doc = json.dumps({"spec": {"kind": "video", **spec}}).encode()
    with pytest.raises(InvalidSpec, match=re.escape(words)):
        load(doc)


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"kind": "video", "frames": 256, "size": [4096, 4096]}, "input values per row; at most 16,777,216"),
        ({"kind": "image", "size": [4096, 4096]}, "the image spec makes 50,331,648 input values"),
        (
            {
                "kind": "audio",
                "sample_rate": 192_000,
                "duration_s": 60,
                "features": "log_mel",
                "n_fft": 8192,
                "hop_length": 64,
            },
            "raise hop_length or lower n_fft",
        ),
    ],
)
def test_a_spec_is_bounded_in_what_its_fields_make_together(spec, words):
    """Each field is bounded; their product (the tensor per row, the STFT) is bounded too, so a
    submission cannot size the evaluators' memory."""
    with pytest.raises(InvalidSpec, match=re.escape(words)):
        load(json.dumps({"spec": spec}).encode())
    assert load(json.dumps({"spec": {"kind": "video", "frames": 16, "size": [224, 224]}}).encode())


def test_a_huge_16_bit_picture_is_sampled_down_before_it_is_widened():
    """A 40-megapixel 16-bit grey PNG compresses to little; widening it whole took ~0.9 GB."""
    import tracemalloc

    from aims_spaces.core.preprocess import conform_image

    wide = Image.fromarray(np.random.default_rng(0).integers(0, 60000, (6000, 6600), dtype=np.uint16))
    tracemalloc.start()
    out = conform_image(wide, ImageSpec(size=(28, 28), mode="L"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (out.mode, out.size) == ("L", (28, 28))
    assert peak < 20 * 2**20
