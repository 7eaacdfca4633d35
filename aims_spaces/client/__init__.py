"""What a participant installs (``pip install aims-spaces``): the HTTP client, ``ModelPlayground``
and model conversion. Talks to a hub over HTTP only and never imports :mod:`aims_spaces.hub`
(CI checks it), so it needs no Ray, Gradio or SQLAlchemy."""

from .http import HubClient, default_client, login
from .playground import ModelPlayground, Submission
from .predictor import OnnxPredictor

__all__ = ["HubClient", "ModelPlayground", "OnnxPredictor", "Submission", "default_client", "login"]
