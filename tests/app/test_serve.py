"""``walker-tui serve``: the app as a web page (textual-serve), checked in a real headless Chromium,
and the command's one-line errors.

The browser test starts ``walker-tui serve`` on a free port, opens the page in Chromium (driven
over the DevTools protocol, tests/app/browser.py), waits for the app to draw, reads the terminal's
text as the page's xterm.js holds it, presses space in the page and sees the app pause, then
stops the server with SIGINT while the page is still connected: the server and the app it ran
must be gone. Set WALKER_TUI_SCREENSHOTS=1 to save the page as screenshots/serve-browser.png
(the README's picture).
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from browser import Chromium, find_chromium, group_alive, stop_group

import walker_tui.cli as cli
import walker_tui.cli.args as cli_args
import walker_tui.cli.serve as serve

ROOT = Path(__file__).resolve().parents[2]
HAVE_SERVE = True
try:
    import textual_serve  # noqa: F401
except ImportError:  # pragma: no cover - CI installs the web extra
    HAVE_SERVE = False
needs_web = pytest.mark.skipif(
    not HAVE_SERVE, reason='textual-serve is not installed: pip install -e ".[web]"'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``python -m walker_tui serve ...`` in its own process group, its output read by a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "walker_tui", "serve", *args],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},  # (textual-serve's log lines, unwrapped)
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        for line in self.seen:
            if re.search(pattern, line):
                return line
        while True:
            try:
                line = self.lines.get(timeout=max(0.05, end - time.monotonic()))
            except queue.Empty:
                if time.monotonic() > end or self.process.poll() is not None:
                    raise AssertionError(
                        f"serve printed no line matching {pattern!r} in {timeout:g} s "
                        f"(exit {self.process.poll()}); it printed:\n" + "\n".join(self.seen)
                    ) from None
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def children(self) -> list[int]:
        """The processes the server started (the apps textual-serve runs, one a page)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.process.pid:
                    found.append(int(entry.name))
        return found

    def stop(self) -> None:
        stop_group(self.process)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def served():
    started: list[Served] = []

    def start(*args: str) -> Served:
        s = Served(*args)
        started.append(s)
        return s

    try:
        yield start
    finally:
        for s in started:
            s.stop()
            assert not group_alive(s.process.pid), "serve left processes running"


@pytest.fixture
async def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium here (Debian: apt-get install chromium; .ci/run installs it): "
            "the browser test of walker-tui serve cannot run"
        )
    browser = Chromium(path)
    try:
        await browser.start()
        yield browser
    finally:
        await browser.close()
        assert browser.process is None or not group_alive(browser.process.pid)


async def wait_screen(browser: Chromium, test, what: str, timeout: float = 60.0) -> list[str]:
    """The page's terminal rows once ``test(rows)`` holds; fails after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    rows: list[str] = []
    while time.monotonic() < end:
        screen = await browser.screen()
        rows = screen["rows"] if screen else []
        if rows and test(rows):
            return rows
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"the page never showed {what} in {timeout:g} s; it showed:\n" + "\n".join(rows)
    )


def status(rows: list[str]) -> str:
    """The status bar's first line: ' running │ epoch 3 │ ...'."""
    for row in rows:
        if re.match(r"\s*(running|paused|starting)\s*│\s*epoch", row):
            return row.strip()
    return ""


def epoch(rows: list[str]) -> int:
    m = re.search(r"epoch (\d+)", status(rows))
    return int(m.group(1)) if m else -1


# --- the page in a real browser ---


@needs_web
@pytest.mark.slow  # a real browser
async def test_the_app_in_chromium_draws_pauses_on_space_and_stops_cleanly(served, chromium):
    port = free_port()
    t0 = time.monotonic()
    # A target under the noise's floor: the walk runs to its epoch limit (50 s at 4 a second),
    # so a loaded machine cannot end it (at 11 epochs, 3 s) before space comes.
    server = served("--port", str(port), "--pace", "4", "--min-loss", "1e-9", "--epochs", "200")
    line = server.wait_for(r"open http://")
    assert f"http://127.0.0.1:{port}" in line
    assert not any("warning" in s for s in server.seen)  # loopback: no warning

    await chromium.open(f"http://127.0.0.1:{port}/")
    rows = await wait_screen(
        chromium, lambda r: status(r).startswith("running") and epoch(r) >= 2, "the app running"
    )
    text = "\n".join(rows)
    # What the app draws: its title, its panels, its status bar and key bar, in the browser.
    assert "walker-tui — linear · 9 rates" in text
    assert "loss (log) by epoch" in text
    assert "loss surface" in text
    assert re.search(r"linear\s*│\s*CPU\s*│\s*seed 17", text)
    # The xterm.js terminal fills the page: columns as the window allows, not textual's 80.
    assert (await chromium.screen())["cols"] > 100

    # Space, typed into the page as a person would (click to focus, then the key): it pauses.
    await chromium.click(640, 300)
    await chromium.press(" ", "Space", " ", 32)
    await wait_screen(chromium, lambda r: status(r).startswith("paused"), "paused")
    await asyncio.sleep(1.0)  # (an epoch under way when space came still lands)
    rows = await wait_screen(chromium, lambda r: status(r).startswith("paused"), "paused")
    paused_at = epoch(rows)
    await asyncio.sleep(1.5)  # at 4 epochs a second, a run that went on would show it
    rows = await wait_screen(chromium, lambda r: status(r).startswith("paused"), "still paused")
    assert epoch(rows) == paused_at
    assert "space pause" in "\n".join(rows)  # the key bar
    # The page as a picture (the README's, with WALKER_TUI_SCREENSHOTS=1): paused, key bar shown.
    shot = (
        ROOT / "screenshots" / "serve-browser.png"
        if os.environ.get("WALKER_TUI_SCREENSHOTS")
        else Path(chromium.profile) / "serve-browser.png"
    )
    await chromium.screenshot(shot)
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a drawn page, not a blank one

    # ...and space again runs it on.
    await chromium.press(" ", "Space", " ", 32)
    await wait_screen(
        chromium, lambda r: status(r).startswith("running") and epoch(r) > paused_at, "running on"
    )

    # Ctrl+C (SIGINT) with the page still open: the app is asked to quit, the server exits 0,
    # and nothing it started is left running; the page says the session ended.
    apps = server.children()
    assert apps, "the server ran no app for the page"
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0
    server.wait_for("stopping", 5)
    for pid in apps:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), f"app {pid} left running"
    assert not group_alive(server.process.pid)
    closed = await chromium.evaluate("document.body.classList.contains('-closed')")
    assert closed, "the page did not see its session end"
    print(f"browser test: {time.monotonic() - t0:.1f} s")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# --- the command: what it prints, its one-line errors (no browser needed) ---


@needs_web
def test_a_host_that_is_not_loopback_is_warned_about_and_the_url_and_tunnel_are_printed(served):
    port = free_port()
    server = served("--host", "0.0.0.0", "--port", str(port))
    server.wait_for(r"ssh -L")
    out = "\n".join(server.seen)
    warnings = [s for s in server.seen if "warning" in s]
    assert len(warnings) == 1
    assert (
        "0.0.0.0" in warnings[0] and "anyone who reaches this port controls the app" in warnings[0]
    )
    assert f"open http://localhost:{port} in a browser" in out
    assert f"ssh -L {port}:localhost:{port} HOST" in out
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "walker_tui", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("walker-tui serve: error: "), result.stderr
    return lines[0]


@needs_web
def test_a_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(run_serve("--port", str(port)))
    assert f"--port {port}: already in use" in line


@needs_web
def test_a_host_that_cannot_be_bound_is_one_line_and_exit_2():
    # 192.0.2.1 is TEST-NET-1 (documentation only): no interface here has it, nothing is sent.
    line = one_line_error(run_serve("--host", "192.0.2.1", "--port", str(free_port())))
    assert "--host 192.0.2.1: cannot be bound" in line
    line = one_line_error(run_serve("--host", "no-such-host.invalid"))
    assert "--host no-such-host.invalid: cannot be bound" in line


def test_bad_options_are_the_apps_one_line_errors_before_any_server():
    assert "--port" in one_line_error(run_serve("--port", "70000"))
    assert "--lrs" in one_line_error(run_serve("--lrs", "abc"))
    assert "--kappa" in one_line_error(run_serve("--kappa", "-1"))


def test_without_the_web_extra_serve_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve", None)  # `import textual_serve` fails
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    with pytest.raises(SystemExit) as e:
        cli.main(["serve", "--port", str(free_port())])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert 'needs the web extra (textual-serve): pip install -e ".[web]" in the clone' in err


def test_app_options_pass_through_without_host_and_port():
    argv = ["--port", "9001", "--paused", "--host=0.0.0.0", "--seed", "3", "--w0=-1,2"]
    assert serve._split(argv) == ["--paused", "--seed", "3", "--w0=-1,2"]
    command = serve.app_command(serve._split(argv))
    assert command.startswith("exec ") and command.endswith(
        "-m walker_tui --paused --seed 3 --w0=-1,2"
    )
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("localhost")
    assert serve.is_loopback("::1") and not serve.is_loopback("0.0.0.0")
    assert serve.urls("0.0.0.0", 8123) == (
        "http://localhost:8123",
        "ssh -L 8123:localhost:8123 HOST",
    )


def test_serve_is_in_the_apps_help():
    assert "walker-tui serve [options]" in cli_args.app_parser().format_help()


def test_serve_to_a_file_says_its_url_at_once_without_loading_torch_and_stops_on_sigterm(
    tmp_path,
):
    """`nohup walker-tui serve > log &`: the URL is in the file while the server runs (flushed,
    not at exit), no torch is loaded to check --device auto (that took seconds on a loaded
    machine), and SIGTERM stops it with its line."""
    import signal

    log = tmp_path / "log"
    port = free_port()
    code = (
        "import sys, runpy; sys.argv = ['walker-tui', 'serve', '--port', sys.argv[1]];"
        "import atexit; atexit.register(lambda: print('torch loaded:', 'torch' in sys.modules,"
        " flush=True)); runpy.run_module('walker_tui', run_name='__main__')"
    )
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(port)], cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        end = time.monotonic() + 30
        while "open http://" not in log.read_text():
            assert process.poll() is None and time.monotonic() < end, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = log.read_text()
    assert "walker-tui serve: stopping" in text
    assert "torch loaded: False" in text
