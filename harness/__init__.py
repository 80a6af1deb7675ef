"""LLM inference benchmarking harness: suites → points → adapters + samplers → results store."""

__version__ = "0.1.0"


def source_root() -> str:
    """The folder holding ``harness/`` and ``adapters/``: put on ``PYTHONPATH`` for a process in another environment."""
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent)
