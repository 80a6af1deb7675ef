"""The ``harness`` command (typer): a thin layer over the library. Exit codes: 0 ok, 1 failed points or a
regression, 2 bad input, 130 interrupted."""

from collections.abc import Callable
from typing import Any

from harness.cli import gate_commands, hardware_commands, results_commands, run_commands
from harness.cli.app import app

# The command table, in the order `harness --help` lists it.
COMMANDS: dict[str, Callable[..., Any]] = {
    "validate": run_commands.validate,
    "run": run_commands.run,
    "env": run_commands.build_envs,
    "ls": results_commands.list_runs,
    "show": results_commands.show,
    "export": results_commands.export,
    "import": results_commands.import_run,
    "tag": results_commands.tag,
    "gate": gate_commands.gate,
    "compare": gate_commands.compare,
    "report": gate_commands.report,
    "calibrate": hardware_commands.calibrate,
    "predict": hardware_commands.predict,
}
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)


def main() -> None:
    app()


__all__ = ["app", "main"]
