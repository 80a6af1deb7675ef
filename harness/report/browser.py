"""Headless Chromium driven over the DevTools protocol (CDP): load a report, see what it logged and fetched, run
script in it, take screenshots. Used by the tests and ``benchmarks/report_scale.py``; needs the Debian ``chromium``
package (or ``HARNESS_CHROMIUM``) and ``websocket-client``. Nothing here downloads a browser.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness.lifeline import die_with_parent

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(Exception):
    pass


def find_chromium() -> str | None:
    """The Chromium binary: ``HARNESS_CHROMIUM`` if set, else the first of CANDIDATES on PATH."""
    explicit = os.environ.get("HARNESS_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class Page:
    """One CDP session on a page target, recording console messages, exceptions, log errors and requests."""

    def __init__(self, ws_url: str, timeout_s: float) -> None:
        import websocket  # websocket-client; imported here so the harness never needs it to run

        self.ws = websocket.create_connection(ws_url, timeout=timeout_s, suppress_origin=True)
        self.timeout_s = timeout_s
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.console: list[dict[str, Any]] = []  # {"type", "text"}
        self.exceptions: list[str] = []
        self.log_errors: list[str] = []
        self.requests: list[str] = []
        self.loaded = False
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def close(self) -> None:
        """Close the tab and the session."""
        try:
            self.send("Page.close", timeout_s=5)
        except Exception:  # noqa: BLE001 - the tab may already be gone
            pass
        self.ws.close()

    # ---------------------------------------------------------------- protocol
    def _record(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append({"type": params.get("type"), "text": text})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.log_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.loadEventFired":
            self.loaded = True
        self.events.append(message)

    def _pump(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError("timed out waiting for Chromium")
        self.ws.settimeout(remaining)
        message = json.loads(self.ws.recv())
        if "method" in message:
            self._record(message)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        self._next_id += 1
        call_id = self._next_id
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            message = self._pump(deadline)
            if message.get("id") == call_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    # ---------------------------------------------------------------- conveniences
    def navigate(self, url: str, timeout_s: float = 60) -> None:
        self.loaded = False
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        deadline = time.monotonic() + timeout_s
        while not self.loaded:
            self._pump(deadline)

    def evaluate(self, expression: str, await_promise: bool = True, timeout_s: float | None = None) -> Any:
        """The JSON value of ``expression`` (a promise is awaited); a script error raises BrowserError."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": await_promise, "returnByValue": True},
            timeout_s=timeout_s,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result.get("result", {}).get("value")

    def idle(self, seconds: float) -> None:
        """Keep receiving events for ``seconds`` (so late errors and requests are recorded)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._pump(deadline)
        except (BrowserError, TimeoutError):
            pass
        except Exception as exc:  # websocket's own timeout type
            if "timed out" not in str(exc).lower():
                raise

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self) -> list[str]:
        """Everything that counts as an error: console errors, uncaught exceptions, log errors (CSP, failed loads)."""
        return (
            [f"console.{c['type']}: {c['text']}" for c in self.console if c["type"] in ("error", "assert")]
            + [f"exception: {e}" for e in self.exceptions]
            + [f"log: {e}" for e in self.log_errors]
        )


class Chromium:
    """A headless Chromium with its own throw-away profile, stopped on ``close()`` (or leaving a ``with``)."""

    def __init__(self, binary: str | None = None, width: int = 1366, height: int = 900, timeout_s: float = 60) -> None:
        self.binary = binary or find_chromium()
        if not self.binary:
            raise BrowserError("Chromium not found: install the Debian package `chromium` or set HARNESS_CHROMIUM")
        self.width, self.height, self.timeout_s = width, height, timeout_s
        self.profile = Path(tempfile.mkdtemp(prefix="harness-chromium-"))
        args = [
            self.binary,
            "--headless=new",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--mute-audio",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--hide-scrollbars",
            "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.log = (self.profile / "chromium.log").open("wb")
        # dies with the harness, even on SIGKILL (Chromium's own helpers follow their browser)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent())
        self.port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(
                    f"Chromium exited with {self.proc.returncode}: "
                    f"{(self.profile / 'chromium.log').read_text(errors='replace')[-800:]}"
                )
            if marker.exists():
                lines = marker.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.05)
        self.close()
        raise BrowserError("Chromium did not open its DevTools port in time")

    def new_page(self) -> Page:
        """A fresh tab (a new target), attached."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
            target = json.loads(reply.read())
        page = Page(target["webSocketDebuggerUrl"], self.timeout_s)
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_report(page: Page, path: Path, screenshot: Path | None = None, settle_s: float = 0.5) -> dict[str, Any]:
    """Open a report file, scroll every plot into view (the page draws plots lazily) and wait until each is drawn.

    Returns ``{"expected": [plot ids], "rendered": [ids whose div holds plotly's svg], "errors": [...],
    "requests": [urls other than the page itself], "screenshot": path}``.
    """
    url = path.resolve().as_uri()
    page.navigate(url)
    page.evaluate("window.harnessReport.firstScreen")
    if screenshot is not None:
        page.screenshot(screenshot)
    expected = page.evaluate("window.harnessReport.expected")
    for plot_id in expected:
        page.evaluate(
            f"document.getElementById({json.dumps(plot_id)}).scrollIntoView();"
            f"window.harnessReport.whenDrawn({json.dumps(plot_id)})",
            timeout_s=60,
        )
    page.idle(settle_s)
    rendered = page.evaluate(
        "window.harnessReport.expected.filter(id => document.getElementById(id).querySelector('svg.main-svg'))"
    )
    return {
        "expected": expected,
        "rendered": rendered,
        "errors": page.errors(),
        "requests": [u for u in page.requests if u != url],
        "screenshot": screenshot,
    }
