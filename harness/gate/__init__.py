"""The CI regression gate: configuration, per-metric statistics, the verdict over two runs, and its formats."""
