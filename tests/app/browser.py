"""A headless Chromium driven over the Chrome DevTools Protocol (a websocket, through aiohttp's
client: textual-serve brings aiohttp), for the tests of ``walker-tui serve``.

Only what the tests need: open a page, run JavaScript in it, click, type a key, take a
screenshot. Chromium runs in its own session with its own empty profile, and ``close`` kills
the whole process group, so nothing is left running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

# The flags the workplace's own check runs Chromium with: as root it needs --no-sandbox, and on a
# closed network the background-networking ones keep it from calling home at every start.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",  # software WebGL, for xterm.js's renderer
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
)

# Reached before textual.js runs: the page keeps its xterm.js Terminal in a local variable, as
# `this.terminal` of its own object; this hands it to the test as window.__walkerTerminal.
EXPOSE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
    if (value && value.buffer && typeof value.write === "function") {
      window.__walkerTerminal = value;
    }
  },
});
"""

# The terminal's text as xterm.js holds it: one string a row.
SCREEN_TEXT = """
(() => {
  const t = window.__walkerTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = b.getLine(b.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return {cols: t.cols, rows: rows};
})()
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page, opened by ``start`` and ended by ``close``."""

    def __init__(self, executable: str, width: int = 1280, height: int = 800) -> None:
        self.executable = executable
        self.size = (width, height)
        self.profile = tempfile.mkdtemp(prefix="walker-chromium-")
        self.process: subprocess.Popen | None = None
        self.session = None
        self.ws = None
        self._id = 0
        self._log = Path(self.profile) / "chromium.log"

    async def start(self, timeout: float = 30.0) -> None:
        import aiohttp

        width, height = self.size
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    self.executable,
                    *FLAGS,
                    f"--user-data-dir={self.profile}",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                    f"--window-size={width},{height}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its helpers in one group, killed together
            )
        port_file = Path(self.profile) / "DevToolsActivePort"
        end = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited at start: {self.log_tail()}")
            if time.monotonic() > end:
                raise BrowserError(f"chromium gave no DevTools port in {timeout:g} s")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split("\n")[0])
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
            pages = [t for t in await r.json() if t["type"] == "page"]
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Page.enable")
        await self.call("Runtime.enable")
        await self.call("Page.addScriptToEvaluateOnNewDocument", source=EXPOSE_TERMINAL)

    def log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    async def call(self, method: str, timeout: float = 30.0, **params) -> dict:
        """One DevTools command, its result (events in between are dropped)."""
        self._id += 1
        mine = self._id
        await self.ws.send_str(json.dumps({"id": mine, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer in {timeout:g} s")
            message = await self.ws.receive(timeout=left)
            if message.data is None or not isinstance(message.data, str):
                raise BrowserError(f"{method}: the DevTools socket closed ({message.type})")
            data = json.loads(message.data)
            if data.get("id") == mine:
                if "error" in data:
                    raise BrowserError(f"{method}: {data['error']}")
                return data.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def screen(self) -> dict | None:
        """{"cols": N, "rows": [text, ...]} of the page's terminal, or None before it exists."""
        return await self.evaluate(SCREEN_TEXT)

    async def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def press(self, key: str, code: str, text: str = "", key_code: int = 0) -> None:
        """A key as a person types it: down (with its text), then up."""
        await self.call(
            "Input.dispatchKeyEvent",
            type="keyDown",
            key=key,
            code=code,
            text=text,
            unmodifiedText=text,
            windowsVirtualKeyCode=key_code,
        )
        await self.call(
            "Input.dispatchKeyEvent",
            type="keyUp",
            key=key,
            code=code,
            windowsVirtualKeyCode=key_code,
        )

    async def screenshot(self, path: Path) -> None:
        data = (await self.call("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))

    async def close(self) -> None:
        try:
            if self.ws is not None:
                await self.ws.close()
            if self.session is not None:
                await self.session.close()
        finally:
            stop_group(self.process)
            shutil.rmtree(self.profile, ignore_errors=True)


def stop_group(process: subprocess.Popen | None, grace: float = 5.0) -> None:
    """End a process started with start_new_session and everything in its group: SIGTERM, then
    SIGKILL after ``grace`` seconds."""
    if process is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        if not group_alive(process.pid):
            break
        time.sleep(0.2)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies waiting for init to reap them,
    as Chromium's helpers leave for a moment, do not count)."""
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found
