"""What a user might write instead of the hub's model server for an image model: a minimal async
FastAPI app that base64-decodes each image, opens it with Pillow, resizes and scales it, and runs
one onnxruntime session. Same request and response shape as ``POST /<playground>/predict``.

    python bench/handwritten_image_server.py model.onnx classes.json SIZE PORT
"""

from __future__ import annotations

import base64
import io
import json
import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request
from PIL import Image

model_path, classes_path, size, port = sys.argv[1:5]
classes = json.loads(open(classes_path).read())
side = int(size)
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
app = FastAPI()


def pixels(b64: str) -> np.ndarray:
    img = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").resize((side, side))
    return (np.asarray(img, dtype=np.float32) / 255).transpose(2, 0, 1)


@app.post("/{playground}/predict")
async def predict(playground: str, request: Request) -> dict:
    x = np.stack([pixels(v) for v in (await request.json())["inputs"]])
    (logits,) = session.run(None, {input_name: x})
    e = np.exp(logits - logits.max(1, keepdims=True))
    proba = e / e.sum(1, keepdims=True)
    return {
        "predictions": [classes[i] for i in proba.argmax(1)],
        "probabilities": [dict(zip(classes, map(float, p), strict=True)) for p in proba],
        "model_version": 1,
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
