"""Workloads: prompts of exact length in the model's tokens, and arrival schedules."""
