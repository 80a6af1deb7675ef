"""LLM inference benchmarking harness: suites → points → adapters + samplers → results store."""

__version__ = "0.1.0"
