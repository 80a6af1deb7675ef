"""The ``harness`` command (typer): a thin layer over the library. Exit codes: 0 ok, 1 failed points or a
regression, 2 bad input, 130 interrupted (SIGINT), 143 terminated (SIGTERM; 128 + the signal for any other)."""

# Before anything heavy is imported: a Ctrl-C or SIGTERM in the first second exits quietly, not with a traceback.
from harness import interrupts

interrupts.install_early()

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from harness.cli import gate_commands, hardware_commands, results_commands, run_commands  # noqa: E402
from harness.cli.app import EXIT_BAD_INPUT, app  # noqa: E402

# The command table, in the order `harness --help` lists it.
COMMANDS: dict[str, Callable[..., Any]] = {
    "validate": run_commands.validate,
    "run": run_commands.run,
    "env": run_commands.build_envs,
    "collect": run_commands.collect,
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
    """Run a command; SIGINT/SIGTERM anywhere in it ends it with one line and ``128 + signal``, never a traceback
    (``harness run`` first marks its run interrupted and says how to resume it)."""
    import sys

    from harness.perms import apply_umask
    from harness.results.store import StoreError

    apply_umask()  # stores, logs, reports and bundles are private unless the umask shares them with a group
    interrupts.install()
    try:
        app()
    except interrupts.Stopped as stop:
        sys.stderr.write(f"stopped by {stop}\n")
        sys.exit(stop.exit_code)
    except StoreError as exc:  # a store damaged or gone mid-command: one line naming it, as at open
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_BAD_INPUT)


__all__ = ["app", "main"]
