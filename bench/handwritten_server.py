"""What a user might write instead of the hub's model server: a minimal async FastAPI app around
one onnxruntime session. Same request and response shape as ``POST /<playground>/predict``.

    python bench/handwritten_server.py model.onnx classes.json columns.json PORT
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request

model_path, classes_path, columns_path, port = sys.argv[1:5]
classes = json.loads(open(classes_path).read())
columns = json.loads(open(columns_path).read())
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
dtype = np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32
app = FastAPI()


@app.post("/{playground}/predict")
async def predict(playground: str, request: Request) -> dict:
    rows = (await request.json())["rows"]
    x = np.array([[row[c] for c in columns] for row in rows], dtype=dtype)
    labels, proba = session.run(None, {input_name: x})
    return {
        "predictions": [str(v) for v in labels],
        "probabilities": [dict(zip(classes, map(float, p), strict=True)) for p in proba],
        "model_version": 1,
    }


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
