"""Evaluators: pure metric functions, the scoring of one submission, and the Ray task around it."""
