"""One self-contained HTML file: the page's script and style, plotly.js from the ``plotly`` package, the data as JSON.

Everything taken from the store is data: it is embedded as JSON that cannot close its ``<script>`` element and the
page builds its DOM with ``textContent``. A Content-Security-Policy allows only the page's own two scripts (by hash)
and no fetch of any kind, so even a mistake in the page could not run injected markup or reach the network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources
from typing import Any

from harness.hints import needs
from harness.redact import redact, redact_text


class ReportError(Exception):
    pass


def safe_json(data: Any) -> str:
    """JSON that is inert inside an HTML ``<script type="application/json">``: no ``<`` (so no ``</script>`` and no
    ``<!--``), no ``>`` or ``&``, and no U+2028/2029 line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ReportError(needs("harness report", "plotly")) from None
    js = get_plotlyjs()
    if re.search(r"</script", js, re.IGNORECASE):  # would end the inline script early
        js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    return js


def _asset(name: str) -> str:
    return resources.files("harness.report").joinpath("assets", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_html(data: dict[str, Any], title: str) -> str:
    library, page_js = plotly_js(), _asset("report.js")
    csp = (
        "default-src 'none'; "
        f"script-src {_sha256(library)} {_sha256(page_js)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )
    parts = {
        "CSP": html.escape(csp, quote=True),
        "TITLE": html.escape(redact_text(title)),
        "CSS": _asset("report.css"),
        "DATA": safe_json(redact(data)),  # suite text, errors, commands: a store written before redaction may hold keys
        "PLOTLY": library,
        "SCRIPT": page_js,
    }
    # one pass, so text inserted for one marker is never searched for another
    return re.sub(r"@@([A-Z]+)@@", lambda m: parts[m.group(1)], _asset("report.html"))
