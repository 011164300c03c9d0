"""Evaluation: baselines, model scoring against references, reports."""
