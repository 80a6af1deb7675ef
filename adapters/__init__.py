"""Engine adapters, installed as ``harness.adapters``. Each module imports its engine library lazily."""
