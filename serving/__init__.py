"""Serving: submitted ONNX models behind a per-playground REST endpoint on Ray Serve.

Plain classes hold the logic and are testable without Ray (:mod:`serving.model_server`,
:mod:`serving.router`, :mod:`serving.stats`, :mod:`serving.state`); :mod:`serving.app` is the
thin Serve deployment around them and :mod:`serving.deployer` what the hub drives.
"""
