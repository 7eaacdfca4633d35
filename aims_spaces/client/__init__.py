"""What a participant installs (``pip install aims-spaces``): the HTTP client, ``ModelPlayground``
and model conversion. Talks to a hub over HTTP only and never imports :mod:`aims_spaces.hub`
(CI checks it), so it needs no Ray, Gradio or SQLAlchemy."""

from .http import HubClient, change_password, default_client, login, signup
from .playground import ModelPlayground, Submission
from .predictor import OnnxPredictor

__all__ = [
    "HubClient",
    "ModelPlayground",
    "OnnxPredictor",
    "Submission",
    "change_password",
    "default_client",
    "login",
    "signup",
]
