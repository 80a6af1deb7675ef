"""The ``harness`` command (typer): a thin layer over the library."""

from harness.cli.app import app, main

__all__ = ["app", "main"]
