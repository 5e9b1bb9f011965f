"""``walker-tui serve``: the app as a web page, with textual-serve (the ``web`` extra).

Each browser that opens the page gets its own app, run as ``python -m walker_tui OPTIONS`` with
the app options given to ``serve`` (checked here first, so a bad one is the app's usual one-line
error and exit 2 before any server starts). Binds 127.0.0.1 unless told otherwise; textual-serve
has no authentication, so any other address gets a one-line warning.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import signal
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from walker_tui.cli.args import WEB_EXTRA, serve_parser

if TYPE_CHECKING:  # (the web extra: imported when serve starts)
    from aiohttp import web
    from textual_serve.server import Server

SHUTDOWN_S = 5.0  # how long a closing server waits for its apps to quit before killing them


def _split(argv: list[str]) -> list[str]:
    """The app options: ``argv`` less --host and --port and their values (the serve parser
    takes no abbreviations, so these are the only spellings)."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--host", "--port"):
            skip = True
        elif not arg.startswith(("--host=", "--port=")):
            rest.append(arg)
    return rest


def app_command(app_argv: Sequence[str]) -> str:
    """The shell command textual-serve runs for each browser."""
    return "exec " + shlex.join([sys.executable, "-m", "walker_tui", *app_argv])


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_bind(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (in use, not an address here), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        return f"--host {host}: cannot be bound: {e.strerror or e}"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind(address)
            except OSError as e:
                return _bind_error(host, port, e)
    return None


def _bind_error(host: str, port: int, e: OSError) -> str:
    import errno

    if e.errno == errno.EADDRINUSE:
        return f"--port {port}: already in use on {host} (choose another with --port)"
    if e.errno == errno.EACCES:
        return f"--port {port}: not allowed here (ports below 1024 need root; choose another)"
    return f"--host {host}: cannot be bound: {e.strerror or e}"


def urls(host: str, port: int) -> tuple[str, str]:
    """(the URL to open here, the SSH tunnel command to run on a laptop for this box)."""
    shown = "localhost" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}", f"ssh -L {port}:localhost:{port} HOST"


def serve_command(argv: list[str]) -> int:
    """``walker-tui serve``: check everything, then serve until Ctrl+C."""
    from walker_tui.cli.checks import make_config, parse, racers_of, validate

    parser = serve_parser()
    args = parse(parser, argv)
    app_argv = _split(argv)
    # The app's own checks, as `walker-tui [options]` makes them, on the serve parser so errors
    # read `walker-tui serve: error: ...`; devices other than auto and cpu only load torch to be
    # checked (it takes seconds: the URL comes sooner)
    validate(parser, args, "--race", [name for name, _ in args.race or []], racers_of(args),
             load_torch=False)  # fmt: skip
    make_config(args)  # what the app will build from them
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        parser.error(f"serve needs the web extra (textual-serve): {WEB_EXTRA}")
    why = check_bind(args.host, args.port)
    if why is not None:
        parser.error(why)
    server = make_server(app_command(app_argv), args.host, args.port)
    try:
        return asyncio.run(server.run())
    except OSError as e:  # bound by someone else between the check and now
        parser.error(_bind_error(args.host, args.port, e))


def make_server(command: str, host: str, port: int):
    """A textual-serve Server that binds only what it is told, builds the page's URLs from the
    address the browser used (so a tunnel or a remote name works, not only ``host``), closes its
    browsers' apps on Ctrl+C and kills any that do not quit."""
    import aiohttp_jinja2
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class Service(AppService):
        async def _open_app_process(self, width: int = 80, height: int = 24):
            process = await super()._open_app_process(width, height)
            owner.processes.add(process)
            return process

    class WalkerServer(Server):
        def __init__(self) -> None:
            super().__init__(command, host=host, port=port, title="walker-tui")
            self.processes: set[asyncio.subprocess.Process] = set()
            self.sockets: set[web.WebSocketResponse] = set()
            self.stopping: asyncio.Event | None = None

        async def on_startup(self, app: web.Application) -> None:
            pass  # (textual-serve's banner; run() says where to go once bound)

        async def on_shutdown(self, app: web.Application) -> None:
            for ws in list(self.sockets):  # each handler then asks its app to quit
                await ws.close(code=1001, message=b"server shutdown")

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict:
            return _index_page(request, self.title)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            return await _browser_session(self, request, Service)

        async def run(self) -> int:
            return await _serve_until_stopped(self)

    owner = WalkerServer()
    return owner


def _index_page(request: web.Request, title: str) -> dict:
    """The page's template values, its URLs built from the address the browser used."""
    from textual_serve.server import to_int

    base = f"{request.scheme}://{request.host}"
    ws = "wss" if request.scheme == "https" else "ws"
    static = request.app.router["static"].url_for(filename="/")
    return {
        "font_size": to_int(request.query.get("fontsize", "16"), 16),
        "app_websocket_url": f"{ws}://{request.host}"
        + str(request.app.router["websocket"].url_for()),
        "config": {"static": {"url": (base + str(static)).rstrip("/") + "/"}},
        "application": {"name": title},
    }


async def _browser_session(
    server: Server, request: web.Request, service_type: type
) -> web.WebSocketResponse:
    """One browser's app, over its websocket, until either side closes it."""
    from aiohttp import web
    from textual_serve.server import to_int

    websocket = web.WebSocketResponse(heartbeat=15)
    width = to_int(request.query.get("width", "80"), 80)
    height = to_int(request.query.get("height", "24"), 24)
    service = None
    try:
        await websocket.prepare(request)
        server.sockets.add(websocket)
        service = service_type(
            server.command,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=server.download_manager,
            debug=server.debug,
        )
        await service.start(width, height)
        await server._process_messages(websocket, service)
    except asyncio.CancelledError:
        await websocket.close()
    except Exception as error:  # (textual-serve's own handler logs them the same way)
        import logging

        logging.getLogger("textual-serve").exception(error)
    finally:
        server.sockets.discard(websocket)
        if service is not None:
            await service.stop()
    return websocket


async def _serve_until_stopped(server: Server) -> int:
    """Bind, say where to go, serve until SIGINT or SIGTERM, then close every app."""
    from aiohttp import web

    server.initialize_logging()
    server.stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stopping.set)
    runner = web.AppRunner(
        await server._make_app(), handle_signals=False, shutdown_timeout=SHUTDOWN_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, server.host, server.port).start()
        _say_where(server.host, server.port)
        await server.stopping.wait()
        print("walker-tui serve: stopping", flush=True)
    finally:
        await runner.cleanup()
        await _kill_left(server.processes)
    return 0


def _say_where(host: str, port: int) -> None:
    url, ssh = urls(host, port)
    if not is_loopback(host):
        print(
            f"walker-tui serve: warning: listening on {host}, not loopback: "
            "anyone who reaches this port controls the app (no authentication)",
            flush=True,
        )
    print(f"walker-tui serve: open {url} in a browser (Ctrl+C stops)", flush=True)
    print(
        f"from another machine: {ssh} (HOST: this machine), then open "
        f"http://localhost:{port} there",
        flush=True,
    )


async def _kill_left(processes: set[asyncio.subprocess.Process]) -> None:
    """Apps that did not quit when asked: terminated, then killed."""
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), SHUTDOWN_S)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
