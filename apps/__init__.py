"""Gradio apps of the hub, and the demo content a fresh hub starts with."""
