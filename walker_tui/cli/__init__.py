"""The ``walker-tui`` command: the app, ``run`` and ``bench``.

Only argparse and the torch-free grid parser are imported at start-up, so ``--help`` and argument
errors answer at once; torch and textual are imported when there is work to do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from walker_tui.catalog import DEFAULT_RATES, entry
from walker_tui.cli.args import (
    Parser,
    app_parser,
    bench_parser,
    join_negative_values,
    replay_parser,
    run_parser,
    under_torchrun,
    watch_parser,
)
from walker_tui.cli.checks import check_record, make_config, parse, racers_of, validate
from walker_tui.config import BENCH_LRS, Config

if TYPE_CHECKING:  # (numpy-only, but kept off --help's import path)
    from walker_tui.recording.reader import Recording


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``walker-tui`` console script."""
    from walker_tui.cli.signals import Stopped, ending, ending_on_signals, say

    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM and SIGHUP end run, bench and the app as Ctrl+C does (under torchrun SIGTERM is
    # torchrun's: _parallel; serve has its own)
    ends = not under_torchrun() and [a for a in argv if a != "--"][:1] != ["serve"]
    try:
        with ending_on_signals() if ends else contextlib.nullcontext():
            return _main(argv)
    except BrokenPipeError:  # `walker-tui run | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Stopped as stop:  # before the work began (torch loading) or after it was done
        words, code = ending(stop)
        say(f"{words}.")
        return code


COMMANDS = ("run", "bench", "replay", "watch", "serve")
LEAVE_SECONDS = 10.0  # after SIGTERM or SIGHUP the app has this long to tear down, then goes
HUNG_UP_SECONDS = 1.0  # this long where the terminal is gone (the teardown cannot end)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `torchrun ... -m walker_tui run -- --n 1000`: torchrun reads --n as an abbreviation of its
    # own options unless a -- comes first; the -- itself means nothing here
    argv = join_negative_values([a for a in argv if a != "--"])
    command = argv[0] if argv and argv[0] in COMMANDS else "app"
    if command == "app" and argv and not argv[0].startswith("-"):  # a word that is no command
        app_parser().error(
            f"{argv[0]!r} is not a command; the commands are {', '.join(COMMANDS)} "
            "(walker-tui alone opens the app; walker-tui COMMAND --help)"
        )
    if command == "replay":
        return _replay(argv[1:])
    if command == "watch":
        return _watch(argv[1:])
    if command == "serve":
        from walker_tui.cli.serve import serve_command

        return serve_command(argv[1:])
    if command == "run":
        parser = run_parser()
        args = parse(parser, argv[1:])
        check_record(parser, args.record, args.force)
        validate(parser, args, "--optimizer", [args.optimizer], [(args.optimizer, args.lr)])
        if args.lr is None:
            args.lr = DEFAULT_RATES.get(args.optimizer, 0.3)
        from walker_tui.cli.headless import run_command

        if under_torchrun():
            return _parallel(parser, "run", make_config(args), args, run_command)
        return run_command(make_config(args), args)
    if command == "bench":
        parser = bench_parser()
        args = parse(parser, argv[1:])
        racers = [name for name, _ in args.racers or []]
        validate(parser, args, "--racers", racers, racers_of(args))
        from walker_tui.cli.headless import bench_command

        cfg = make_config(args, fresh_w0=True, lrs_default=BENCH_LRS)
        if under_torchrun():
            return _parallel(parser, "bench", cfg, args, bench_command)
        return bench_command(cfg, args)
    parser = app_parser()
    args = parse(parser, argv)
    validate(parser, args, "--race", [name for name, _ in args.race or []], racers_of(args))
    if under_torchrun():
        return _parallel(parser, "app", make_config(args), args, _lead_or_follow)
    return _run_app(make_config(args), args.paused)


def _parallel(parser: Parser, command: str, cfg: Config, args: argparse.Namespace, body) -> int:
    """``run`` or ``bench`` as one rank of a torchrun job (walker_tui.parallel.sharded): rank 0
    prints and records, the others print nothing; a rank that fails says so in one line naming
    itself and the cause, and leaves at once (torchrun then ends the others)."""
    import dataclasses

    import walker_tui.parallel.sharded as distributed

    if not (entry(cfg.problem).has_data or entry(cfg.problem).model):
        parser.error(
            f"under torchrun: {cfg.problem} has no data to share out (give linear, logistic, "
            "--data, mlp, digits or your own model)"
        )
    ranks = int(os.environ.get("WORLD_SIZE", "1"))
    if entry(cfg.problem).has_data and cfg.data is None and cfg.n < ranks:
        parser.error(f"argument --n: {cfg.n} data points cannot be shared out among {ranks} ranks")
    try:
        device = distributed.init(cfg.device)
    except ValueError as e:
        parser.error(f"argument --device: {e}")
    cfg = dataclasses.replace(cfg, device=str(device))
    if distributed.rank() != 0 and args.record:
        args.record = None  # rank 0 writes the recording
    distributed.quiet_followers()
    if command != "app":  # (the app ends itself on SIGTERM, restoring the terminal: _run_app)
        distributed.end_on_sigterm()
    try:
        code = body(cfg, args)
    except BaseException as error:  # noqa: BLE001 (every failure: one line, and out)
        distributed.say_failure(command, error, cfg.problem)
        os._exit(130 if isinstance(error, KeyboardInterrupt) else 1)
    distributed.finish()
    return code


def _lead_or_follow(cfg: Config, args: argparse.Namespace) -> int:
    """The app under torchrun: rank 0 draws and takes the keys (keeping the whole problem on
    the CPU for the surface), every other rank runs what it sends (walker_tui.parallel.sharded)."""
    import walker_tui.parallel.leader as leader
    import walker_tui.parallel.sharded as distributed

    if distributed.rank() != 0:
        return leader.follow(cfg)
    heartbeat = leader.Heartbeat()  # (rank 0's app trains with leader.LeaderSession)
    try:
        return _run_app(cfg, args.paused, finish=heartbeat.close)
    finally:
        heartbeat.close()


def _run_app(
    cfg: Config,
    paused: bool,
    replay: Recording | None = None,
    finish: object = None,
) -> int:
    """Run the app (training, or playing a recording) and leave cleanly."""
    # torch and textual leave a million long-lived objects behind; a full collection that walks
    # them all stalls the UI for ~120 ms every few seconds. Freezing them keeps collections to
    # the objects made since (benchmarks/app_redraw.py: the worst key latency).
    import gc

    from walker_tui.cli.signals import ending_on_signals, say, word
    from walker_tui.ui.app import make_app

    gc.freeze()  # (no collect first: it would cost the first redraw ~150 ms)
    app = make_app(cfg, start_paused=paused, replay=replay)
    ended: list[int] = []

    def leave(signum: int, frame: object) -> None:
        ended.append(signum)
        app.exit(return_code=128 + signum)  # the app restores the terminal on its way out
        # a terminal that hung up can stall that teardown (its writes fail, its reads end):
        # the process goes anyway, as a dropped SSH session must leave nothing running: a
        # second on where the terminal is gone, else after LEAVE_SECONDS
        threading.Thread(
            target=_exit_after, args=(LEAVE_SECONDS, 128 + signum, HUNG_UP_SECONDS), daemon=True
        ).start()

    guard = ending_on_signals(leave)  # SIGTERM and SIGHUP: as q, with a line and 128 + signal
    if finish is not None:  # under torchrun: another rank's failure makes torchrun end this one
        import signal

        signal.signal(signal.SIGTERM, leave)
        guard = contextlib.nullcontext()
    with guard:
        app.run()
    code = app.return_code or 0
    if ended and finish is None:  # (said once the terminal is restored)
        say(f"{word(ended[0])} at epoch {app.view.latest_epoch}.")
    elif ended:
        from walker_tui.parallel.sharded import others_failures

        time.sleep(0.2)  # (the failing rank writes its line as it leaves)
        for line in others_failures():  # said while the app's screen was up: lost with it
            print(line, file=sys.__stderr__)
        print(
            "walker-tui: error: rank 0 stopped: torchrun ended the job (another rank failed)",
            file=sys.__stderr__,
            flush=True,
        )
        os._exit(1)
    if finish is not None:  # under torchrun: quit every rank (once the training thread is out)
        ranks = os.environ.get("WORLD_SIZE", "?")
        print(f"walker-tui: ending the {ranks} ranks…", file=sys.__stderr__, flush=True)
        app.still_busy(wait=30)
        finish()
    if app.still_busy(wait=0.2):
        # A cancelled thread is still inside a torch call (one epoch at n = 10^7 takes seconds).
        # Tearing the interpreter down under it aborts in torch's C++ teardown (exit 134 or
        # 139), so leave at once: the terminal is restored and nothing else is left to save.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _exit_after(seconds: float, code: int, hung_up: float | None = None) -> None:
    """Leave with ``code`` after ``seconds`` (the app did not get out by then), or after
    ``hung_up`` seconds where the terminal the app draws on has hung up."""
    start = time.monotonic()
    while (left := seconds - (time.monotonic() - start)) > 0:
        if hung_up is not None and time.monotonic() - start >= hung_up and _terminal_gone():
            break
        time.sleep(min(0.1, left))
    os._exit(code)


def _terminal_gone() -> bool:
    """Whether the terminal textual draws on (sys.__stderr__) has hung up: a closed pseudo-
    terminal (tmux kill-session, a dropped SSH session) polls as POLLHUP or POLLERR."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.__stderr__.fileno(), select.POLLOUT)
        return any(events & (select.POLLHUP | select.POLLERR) for _, events in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # (no stderr, or no poll on this platform)
        return False


def reading(what: str) -> None:
    """Say, on a terminal, what is being read while the app is not up yet."""
    if sys.stderr.isatty():
        print(f"walker-tui: loading… reading {what}", file=sys.stderr, flush=True)


def _replay(argv: list[str]) -> int:
    parser = replay_parser()
    args = parser.parse_args(argv)
    reading(args.file)  # (torch and the file take seconds under load: not a blank screen)
    from walker_tui.viewmodel.replay import ReplayError, load_replay

    try:
        recording, cfg = load_replay(args.file)
    except ReplayError as e:
        parser.error(str(e))
    cfg.pace = args.pace
    return _run_app(cfg, args.paused, recording)


def _watch(argv: list[str]) -> int:
    parser = watch_parser()
    args = parser.parse_args(argv)
    reading(", ".join(args.files))
    from walker_tui.viewmodel.watch import watchable

    paths, seen = [], set()
    for name in args.files:
        path = Path(name)
        why = watchable(path)
        if why is not None:
            parser.error(why)
        key = os.path.abspath(path)
        if key not in seen:  # (the same file twice is watched once)
            seen.add(key)
            paths.append(path)
    return _run_watch(paths)


def _run_watch(paths: list[Path]) -> int:
    """The watch app, left as the app is (a line on SIGTERM or SIGHUP)."""
    import gc

    from walker_tui.cli.signals import ending_on_signals, say, word
    from walker_tui.ui.app import make_watch_app

    gc.freeze()
    app = make_watch_app(paths)
    ended: list[int] = []

    def leave(signum: int, frame: object) -> None:
        ended.append(signum)
        app.exit(return_code=128 + signum)
        # a terminal that hung up stalls the app for good (textual's output thread dies on its
        # first failed write, and every write after blocks on its full queue): the process
        # goes anyway: a second on where the terminal is gone, else after LEAVE_SECONDS
        if len(ended) == 1:
            threading.Thread(
                target=_exit_after, args=(LEAVE_SECONDS, 128 + signum, HUNG_UP_SECONDS), daemon=True
            ).start()

    with ending_on_signals(leave):
        app.run()
    if ended:
        say(f"{word(ended[0])}: walker-tui watch stopped (the recordings are left as they are).")
    return app.return_code or 0
