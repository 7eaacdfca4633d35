"""Audio and video playgrounds: scikit-learn on features and PyTorch networks, with specs."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from sklearn.linear_model import LogisticRegression

from aims_spaces import InvalidEvalData, ModelPlayground
from aims_spaces.core.media import encode_audio, encode_video
from aims_spaces.core.preprocess import AudioSpec, VideoSpec, document, load
from apps.datasets import RATE, SECONDS, tones
from apps.datasets import moving_squares as squares

pytestmark = pytest.mark.hub


def test_audio_playground(users, hub):
    train, y_train = tones(200, 0)
    test, y_test = tones(60, 1)
    pg = ModelPlayground(
        input_type="audio", task_type="classification", name="tones-test", client=users("abe")
    )
    pg.create(eval_data=y_test, eval_features=test, example_data=test[:3], y_train=y_train)
    assert [c.dtype.value for c in pg.info.feature_schema] == ["audio"]

    mel = AudioSpec(
        sample_rate=RATE,
        duration_s=SECONDS,
        features="log_mel",
        n_fft=256,
        hop_length=128,
        layout="flat",
        input="X",
        dtype="float64",
    )
    features = load(document(mel)).feeds([encode_audio(c) for c in train])["X"]
    lr = LogisticRegression(max_iter=2000).fit(features, y_train)
    s1 = pg.submit_model(model=lr, preprocessor=mel).wait()
    assert s1.info.verified and s1.scores["all"]["accuracy"] > 0.9

    wave = AudioSpec(sample_rate=RATE, duration_s=SECONDS, layout="channel")
    net = torch.nn.Sequential(
        torch.nn.Conv1d(1, 4, 64, stride=16),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    s2 = pg.submit_model(model=net, preprocessor=wave).wait()  # nn.Sequential: its input is positional
    assert s2.info.framework == "pytorch" and s2.info.metadata["layer_types"]["Conv1d"] == 1
    board = pg.get_leaderboard().set_index("version")
    assert (
        board.loc[s2.version, "arch.layers"] == "AdaptiveMaxPool1d×1, Conv1d×1, Flatten×1, Linear×1, ReLU×1"
    )
    assert board.loc[s2.version, "arch.parameters"] == sum(p.numel() for p in net.parameters())
    assert board.loc[s1.version, "model_type"] == "LogisticRegression"

    pg.deploy_model(s1.version)
    url = f"{hub.serve_url}/tones-test/predict"
    wavs = [encode_audio(c) for c in test[:4]]
    r = httpx.post(url, files=[("file", (f"{i}.wav", w, "audio/wav")) for i, w in enumerate(wavs)])
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == list(lr.predict(load(document(mel)).feeds(wavs)["X"]))
    r = httpx.post(url, json={"inputs": [base64.b64encode(wavs[0]).decode()]})
    assert r.status_code == 200
    # A sound at another rate is resampled to the model's, not refused.
    t = np.arange(8000) / 16000
    fast = encode_audio(((0.5 * np.sin(2 * np.pi * 1400 * t)).astype(np.float32), 16000))
    r = httpx.post(url, files=[("file", ("fast.wav", fast, "audio/wav"))])
    assert r.status_code == 200 and r.json()["predictions"] == ["whistle"], r.text
    r = httpx.post(url, files=[("file", ("x.wav", b"RIFF but not really", "audio/wav"))])
    assert r.status_code == 422 and "not a sound file" in r.json()["error"]["message"]

    path = hub.home.parent / "clip.wav"
    path.write_bytes(wavs[0])
    label = Client(f"{hub.url}/p/tones-test/", verbose=False).predict(
        handle_file(str(path)), api_name="/predict"
    )
    assert label["label"] == lr.predict(load(document(mel)).feeds(wavs[:1])["X"])[0]


def test_video_playground(users, hub):
    train, y_train = squares(120, 0)
    test, y_test = squares(40, 1)
    pg = ModelPlayground(
        input_type="video", task_type="classification", name="motion-test", client=users("abe")
    )
    pg.create(eval_data=y_test, eval_features=test, example_data=test[:2], y_train=y_train)

    flat = VideoSpec(frames=8, size=(16, 16), mode="L", layout="flat", input="X", dtype="float64")
    X = load(document(flat)).feeds([encode_video(v) for v in train])["X"]
    lr = LogisticRegression(max_iter=2000).fit(X, y_train)
    s1 = pg.submit_model(model=lr, preprocessor=flat).wait()
    assert s1.info.verified and s1.scores["all"]["accuracy"] > 0.9

    clip = VideoSpec(frames=8, size=(16, 16), mode="L", layout="NCTHW")

    class Motion(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv3d(1, 4, (3, 3, 3), padding=1)
            self.head = torch.nn.Linear(4, 2)

        def forward(self, pixel_values):
            return self.head(torch.relu(self.conv(pixel_values)).mean(dim=(2, 3, 4)))

    motion = Motion()
    s2 = pg.submit_model(model=motion, preprocessor=clip).wait()
    assert s2.info.metadata["layer_types"] == {"Conv3d": 1, "Linear": 1}
    board = pg.get_leaderboard().set_index("version")
    assert board.loc[s2.version, "arch.layers"] == "Conv3d×1, Linear×1"
    assert board.loc[s2.version, "arch.parameters"] == sum(p.numel() for p in motion.parameters())
    assert board.loc[s1.version, "model_type"] == "LogisticRegression"

    pg.deploy_model(s1.version)
    url = f"{hub.serve_url}/motion-test/predict"
    mp4s = [encode_video(v) for v in test[:3]]
    r = httpx.post(url, files=[("file", (f"{i}.mp4", m, "video/mp4")) for i, m in enumerate(mp4s)])
    assert r.status_code == 200, r.text
    expected = list(lr.predict(load(document(flat)).feeds(mp4s)["X"]))
    assert r.json()["predictions"] == expected
    r = httpx.post(url, json={"inputs": [base64.b64encode(m).decode() for m in mp4s]})
    assert r.status_code == 200 and r.json()["predictions"] == expected
    r = httpx.post(url, files=[("file", ("x.mp4", b"\x00\x00\x00\x18ftypmp42 broken", "video/mp4"))])
    assert r.status_code == 422 and "not a video" in r.json()["error"]["message"]

    path = hub.home.parent / "clip.mp4"
    path.write_bytes(mp4s[0])
    label = Client(f"{hub.url}/p/motion-test/", verbose=False).predict(
        handle_file(str(path)), api_name="/predict"
    )
    assert label["label"] == lr.predict(load(document(flat)).feeds(mp4s[:1])["X"])[0]


def test_audio_eval_data_must_be_sound(users):
    pg = ModelPlayground(
        input_type="audio", task_type="classification", name="bad-audio", client=users("abe")
    )
    with pytest.raises(InvalidEvalData, match="not a sound file"):
        pg.create(eval_data=["a", "b"], eval_features=[b"not audio", b"nor this"])
