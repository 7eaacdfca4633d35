"""What the client and the hub share: tabular schemas and Parquet transport, media codecs,
preprocessors as data, the ONNX model wrapper, the skops audit, and the leaderboard and
comparison frames. Imports neither side (CI checks it)."""
