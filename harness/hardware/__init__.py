"""Every point against its hardware: what the device can do (``calibrate`` measures it, ``specs`` says what was
published), what the model must do (``model``: its shape from its own config), and what each point achieved and
cost (``point``), or would achieve on any device (``predict``).

The formulas are in ``harness.metrics.efficiency`` and ``harness.metrics.cost``; this package gathers their inputs.
"""
