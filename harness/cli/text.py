"""Text the harness did not write (suite names, axis values, engine and server errors, store contents) as the
terminal shows it: plain, never rich markup, with control characters made visible.

Every CLI print of such text goes through :func:`plain` (a rich ``Text``, which rich never parses as markup) or
:func:`markup_safe` (for a string spliced into the CLI's own markup). Both replace control characters — ANSI/OSC
escapes, carriage returns, backspaces, bidi overrides — by a visible ``\\xNN``/``\\uNNNN``, so a hostile name cannot
retitle the terminal, recolour the output, or hide what follows it.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

# C0 and C1 controls, DEL, zero-width and bidi formatting characters (a "Trojan source" reorders what is shown)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_KEPT_IN_BLOCKS = frozenset("\n")


def _show(match: re.Match[str]) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def visible(text: object, newlines: bool = False) -> str:
    """``text`` as a string whose control characters are written out (``\\x1b``); ``newlines`` keeps line breaks
    (a multi-line block such as a traceback), otherwise they are shown as ``\\x0a`` too and the text is one line."""
    raw = "" if text is None else str(text)
    if newlines:
        return _CONTROL.sub(lambda m: m.group() if m.group() in _KEPT_IN_BLOCKS else _show(m), raw)
    return _CONTROL.sub(_show, raw)


def plain(text: object, style: str = "", newlines: bool = False) -> Text:
    """A rich ``Text`` of untrusted text: printed as written (``[/bold]`` stays ``[/bold]``), controls visible."""
    return Text(visible(text, newlines), style=style)


def markup_safe(text: object) -> str:
    """Untrusted text for a place that takes rich markup (a progress column, a line with the CLI's own styles)."""
    return escape(visible(text))
