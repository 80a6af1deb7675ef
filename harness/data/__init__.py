"""Text the harness ships: the embedded tokenizer corpus and the fixed fidelity text."""
