"""Media playgrounds from the browser alone: an image model submitted with its preprocessor
filled in on the Submit tab, the eval features downloaded from the Data tab; and the checks
that refuse a bad preprocessor spec, naming the field."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from aims_spaces import InvalidSpec, ModelPlayground
from aims_spaces.client.conversion import convert
from aims_spaces.client.data import upload_data
from aims_spaces.core import preprocess
from aims_spaces.core.limits import DEFAULT_LIMITS
from aims_spaces.core.media import encode_audio, encode_video
from aims_spaces.core.preprocess import ImageSpec
from aims_spaces.domain import ColumnType, InputType
from apps import data_tab
from apps.data_tab import media_zip
from apps.preprocessor_form import file_document, form_document, submitted_document
from tests.apps.conftest import choose, download, screenshot
from tests.apps.test_browser import login

FLAT = ImageSpec(size=(8, 8), mode="L", layout="flat", input="X")


def download_bytes(page: Page, button: str) -> bytes:
    """:func:`tests.apps.conftest.download` for a binary file (a zip)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(20):
        try:
            with page.expect_download(timeout=3_000) as got:
                page.get_by_role("button", name=button).click()
        except PlaywrightTimeout:
            continue
        return Path(got.value.path()).read_bytes()
    raise AssertionError(f"the {button!r} button never downloaded a file")


def spec_file(tmp_path: Path, doc: object, name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def refusal(make) -> str:
    with pytest.raises(InvalidSpec) as e:
        make()
    return str(e.value)


def test_a_bad_preprocessor_spec_is_refused_naming_the_field(tmp_path):
    image, video, limits = InputType.IMAGE, InputType.VIDEO, DEFAULT_LIMITS
    good = {"kind": "image", "size": [8, 8], "mode": "L", "layout": "flat", "input": "X"}

    # What the form and a spec file make is what the Python client uploads for the same spec.
    form = {"size": "8, 8", "mode": "L", "layout": "flat", "input": "X", "mean": "", "scale": 1 / 255}
    assert form_document(image, form, limits) == preprocess.document(FLAT)
    assert file_document(spec_file(tmp_path, good), image, limits) == preprocess.document(FLAT)
    assert file_document(spec_file(tmp_path, {"spec": good}), image, limits) == preprocess.document(FLAT)
    values = {"preprocessor_file": None, **{f"preprocessor_{k}": v for k, v in form.items()}}
    assert submitted_document(image, values, limits) == preprocess.document(FLAT)

    # An unknown field, a wrong type, an absurd size: each message names the field.
    assert "colour" in refusal(
        lambda: file_document(spec_file(tmp_path, {**good, "colour": 1}), image, limits)
    )
    bad_scale = spec_file(tmp_path, {**good, "scale": "bright"})
    assert re.search(r"\bscale\b.*valid number", refusal(lambda: file_document(bad_scale, image, limits)))
    huge = {**form, "size": "100000, 100000"}
    assert re.search(r"\bsize\b.*4096", refusal(lambda: form_document(image, huge, limits)))
    huge_video = {"frames": 8, "size": "100000 x 100000"}
    assert re.search(r"\bsize\b.*4096", refusal(lambda: form_document(video, huge_video, limits)))
    assert "frames" in refusal(lambda: form_document(video, {"frames": 100_000, "size": "8, 8"}, limits))
    assert "layout" in refusal(lambda: form_document(image, {**form, "layout": "sideways"}, limits))
    assert re.search(
        r"^size: .*not a list of numbers",
        refusal(lambda: form_document(image, {**form, "size": "big"}, limits)),
    )
    assert re.search(
        r"^size: give 2 numbers", refusal(lambda: form_document(image, {**form, "size": "8"}, limits))
    )
    assert re.search(
        r"^size: fill it in", refusal(lambda: form_document(image, {**form, "size": " "}, limits))
    )
    assert re.search(r"^mean: ", refusal(lambda: form_document(image, {**form, "mean": "a, b"}, limits)))
    assert "mean needs 1 value" in refusal(
        lambda: form_document(image, {**form, "mean": "0.5, 0.5, 0.5"}, limits)
    )

    # Another kind than the playground's, a file that is not JSON or far too large.
    audio = spec_file(tmp_path, {"kind": "audio", "sample_rate": 8000, "duration_s": 1})
    assert re.search(r"^kind: .*'image', not 'audio'", refusal(lambda: file_document(audio, image, limits)))
    assert "kind" in refusal(lambda: file_document(spec_file(tmp_path, {"size": [8, 8]}), image, limits))
    assert "not JSON" in refusal(lambda: file_document(spec_file(tmp_path, "size = 8x8"), image, limits))
    big = spec_file(tmp_path, {**good, "input": "X" * 100_000})
    assert "at most 64 KiB" in refusal(lambda: file_document(big, image, limits))


def test_media_zips_name_files_by_row_and_format_and_the_page_bounds_what_it_prepares(monkeypatch):
    sound = encode_audio((np.zeros(800), 8000))
    clip = encode_video(np.zeros((4, 16, 16, 3), dtype=np.uint8))
    frame = pd.DataFrame({"audio": [sound, sound], "label": ["hum", "whistle"]})
    archive = zipfile.ZipFile(io.BytesIO(media_zip(frame, ColumnType.AUDIO, target="label")))
    assert archive.namelist() == ["00000.wav", "00001.wav", "index.csv"]
    index = pd.read_csv(archive.open("index.csv"))
    assert index.to_dict("list") == {
        "row": [0, 1],
        "audio": ["00000.wav", "00001.wav"],
        "label": ["hum", "whistle"],
    }
    videos = zipfile.ZipFile(io.BytesIO(media_zip(pd.DataFrame({"video": [clip]}), ColumnType.VIDEO)))
    assert videos.namelist() == ["00000.mp4", "index.csv"] and videos.read("00000.mp4") == clip
    # A row without a file (a null cell of an uploaded table) gets none, and an empty name.
    gaps = zipfile.ZipFile(io.BytesIO(media_zip(pd.DataFrame({"audio": [None, sound]}), ColumnType.AUDIO)))
    assert gaps.namelist() == ["00001.wav", "index.csv"]
    assert pd.read_csv(gaps.open("index.csv"), keep_default_na=False)["audio"].tolist() == ["", "00001.wav"]

    assert not data_tab._too_large(frame)
    monkeypatch.setattr(data_tab, "MAX_PAGE_DOWNLOAD_BYTES", 1000)
    assert data_tab._too_large(frame)
    assert "Python client, `pg.get_eval_features()`" in data_tab._too_large_note(
        "eval features", frame, "pg.get_eval_features()"
    )


@pytest.mark.hub
@pytest.mark.browser
def test_an_image_model_goes_up_with_its_preprocessor_from_the_page_and_the_eval_files_come_down(
    page: Page, hub, users, tmp_path
):
    digits = load_digits()
    images = (digits.images * 15).astype(np.uint8)
    X_train, y_train, X_test, y_test = (
        images[:400],
        digits.target[:400],
        images[1300:1360],
        digits.target[1300:1360],
    )
    pg = ModelPlayground(
        input_type="image", task_type="classification", name="web-pixels", client=users("mona")
    )
    pg.create(eval_data=y_test, eval_features=list(X_test), example_data=list(X_test[:3]))
    upload_data(pg, pd.DataFrame({"image": list(X_train[:40]), "digit": y_train[:40]}), target="digit")

    # The participant trains and converts on their own machine, then only uses the page.
    participant = ModelPlayground(name="web-pixels", client=users("pablo"))
    features = participant.get_eval_features()
    clf = LogisticRegression(max_iter=2000).fit(X_train.reshape(len(X_train), -1) / 255.0, y_train)
    onnx = convert(
        clf,
        participant.info.signature,
        sample=features.head(8),
        preprocessor=preprocess.load(preprocess.document(FLAT)),
    ).onnx
    model_path = tmp_path / "pixels.onnx"
    model_path.write_bytes(onnx)

    login(page, hub, "pablo", users.passwords["pablo"], "/p/web-pixels/")
    page.get_by_role("tab", name="Submit").click()
    panel = page.get_by_role("tabpanel")
    expect(panel.get_by_text("every model you upload here needs a preprocessor")).to_be_visible()
    # Filled in from the playground's example images.
    expect(panel.get_by_role("textbox", name=re.compile(r"^size\b"))).to_have_value("8, 8")
    expect(panel.get_by_role("combobox", name="mode")).to_have_value("L")

    # A spec file with a field no spec has: refused, naming it; nothing is recorded.
    bad = spec_file(tmp_path, {"kind": "image", "size": [8, 8], "colour": "grey"})
    panel.locator("input[type=file]").nth(3).set_input_files(bad)
    panel.locator("input[type=file]").nth(0).set_input_files(str(model_path))
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_text(re.compile(r"image\.colour: Extra inputs are not permitted"))).to_be_visible()

    # The form: the layout and input name the model was converted with.
    page.reload()
    page.get_by_role("tab", name="Submit").click()
    panel = page.get_by_role("tabpanel")
    panel.locator("input[type=file]").nth(0).set_input_files(str(model_path))
    expect(panel.get_by_text("pixels.onnx")).to_be_visible()  # uploaded before Submit is pressed
    choose(panel.get_by_role("combobox", name="layout"), "flat")
    panel.get_by_role("textbox", name=re.compile(r"^input\b")).fill("X")
    page.get_by_label("description").fill("pixels from the browser")
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.get_by_text(re.compile(r"Version \d+ scored"))).to_be_visible(timeout=60_000)
    screenshot(page, "playground-submit-image")

    page.get_by_role("tab", name="Experiments").click()
    page.get_by_role("button", name="Refresh").click()
    row = page.get_by_role("grid").filter(has_text="pixels from the browser").locator("visible=true").first
    expect(row).to_contain_text("pablo")
    [sub] = pg.list_submissions()  # as the owner sees it: every score
    assert (sub.username, sub.has_preprocessor, sub.verified) == ("pablo", True, True)
    assert sub.scores["all"]["accuracy"] > 0.8
    stored = pg.client.request(
        "GET", f"/api/playgrounds/web-pixels/submissions/{sub.version}/preprocessor", raw=True
    )
    assert stored == preprocess.document(FLAT)  # what the Python client would have uploaded

    # The eval features as files, in row order, with their index; and as the client's Parquet.
    page.get_by_role("tab", name="Data").click()
    archive = zipfile.ZipFile(io.BytesIO(download_bytes(page, "Eval features (zip of images + index.csv)")))
    index = pd.read_csv(archive.open("index.csv"))
    assert list(index.columns) == ["row", "image"] and len(index) == len(X_test)
    assert sorted(archive.namelist()) == sorted([*index["image"], "index.csv"])
    assert [archive.read(name) for name in index["image"]] == features["image"].tolist()
    parquet = pd.read_parquet(io.BytesIO(download_bytes(page, "Eval features (Parquet)")))
    assert parquet["image"].tolist() == features["image"].tolist()
    sample = download(page, "Sample submission (CSV)").splitlines()
    assert sample[0] == "prediction" and len(sample) == 1 + len(X_test)
    train = zipfile.ZipFile(io.BytesIO(download_bytes(page, "Training data (zip of images + index.csv)")))
    index = pd.read_csv(train.open("index.csv"))
    assert list(index.columns) == ["row", "image", "digit"] and len(index) == 40
    assert index["digit"].tolist() == y_train[:40].tolist() and len(train.namelist()) == 41
