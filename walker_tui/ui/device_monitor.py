"""What the box is doing, for the status line: the device's memory (and a GPU's utilisation), or
on the CPU the process's resident memory, sampled at most once a second on a daemon thread
(:class:`DeviceMonitor`; the app and watch each hand it their probe).

The app training on a GPU reads ``torch.cuda.mem_get_info`` (the whole device: every process's
memory), and with the ``gpu`` extra (``nvidia-ml-py``) the GPU's utilisation too. ``walker-tui
watch`` reads this machine's GPUs through NVML only: a watcher must not open a CUDA context
(hundreds of MiB of the device the job is training on) to say how full it is. Without NVML it
says how to get the figure, and shows its own resident memory. Torch and NVML are imported on
the sampling thread, when first needed. What ``--device`` resolves to is the core's
(walker_tui.core.devices).
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from walker_tui.core.devices import resolve_device

INTERVAL = 1.0  # seconds between samples, at least
SWITCH = "WALKER_TUI_DEVICE_FIGURES"  # "0": no device figure on the status line (the tests' own)


def enabled() -> bool:
    """The status line shows the device's figures (unless WALKER_TUI_DEVICE_FIGURES=0: a fixed
    picture, as the snapshot tests take, has no live memory figure in it)."""
    return os.environ.get(SWITCH, "1") != "0"


GIB, MIB = 2.0**30, 2.0**20
NVML_HINT = 'GPU figures: pip install -e ".[gpu]" (nvidia-ml-py)'


@dataclass
class Gpu:
    """One GPU's figures: memory used and total in bytes, utilisation in percent (None:
    unknown)."""

    index: int
    used: float
    total: float
    util: float | None = None


def format_bytes(n: float) -> str:
    """``412 MiB``, ``3.2 GiB``."""
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


def format_gpus(gpus: list[Gpu], prefix: str = "GPU") -> str:
    """``GPU0 3.2/80.0 GiB 45%``; more than two: the total and the mean utilisation."""
    if len(gpus) > 2:
        used, total = sum(g.used for g in gpus), sum(g.total for g in gpus)
        utils = [g.util for g in gpus if g.util is not None]
        util = f" {sum(utils) / len(utils):.0f}% mean" if utils else ""
        return f"{len(gpus)} GPUs {used / GIB:.1f}/{total / GIB:.1f} GiB{util}"
    parts = []
    for g in gpus:
        util = f" {g.util:.0f}%" if g.util is not None else ""
        parts.append(f"{prefix}{g.index} {g.used / GIB:.1f}/{g.total / GIB:.1f} GiB{util}")
    return ", ".join(parts)


def resident_bytes() -> tuple[float, bool]:
    """(bytes, current): this process's resident memory now (/proc), or its peak where the
    platform gives only that (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return float(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"), True
    except (OSError, ValueError, IndexError):
        peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return (peak if sys.platform == "darwin" else peak * 1024), False


def resident_text(who: str = "memory") -> str:
    n, current = resident_bytes()
    return f"{who} {format_bytes(n)} resident" + ("" if current else " at peak")


class Nvml:
    """NVML (the gpu extra), opened once; None where it is not installed or finds no driver."""

    _lib = None
    _tried = False

    @classmethod
    def lib(cls):  # noqa: ANN206
        if not cls._tried:
            cls._tried = True
            try:
                import pynvml  # type: ignore[import-not-found]

                pynvml.nvmlInit()
                cls._lib = pynvml
            except Exception:  # noqa: BLE001 (not installed, no driver: no figures)
                cls._lib = None
        return cls._lib

    @classmethod
    def gpus(cls, indices: list[int] | None = None) -> list[Gpu] | None:
        nv = cls.lib()
        if nv is None:
            return None
        try:
            count = nv.nvmlDeviceGetCount()
            out = []
            for i in range(count) if indices is None else indices:
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                mem = nv.nvmlDeviceGetMemoryInfo(handle)
                try:
                    util = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
                except Exception:  # noqa: BLE001 (some devices give none)
                    util = None
                out.append(Gpu(i, float(mem.used), float(mem.total), util))
            return out
        except Exception:  # noqa: BLE001
            return None


def gpu_present() -> bool:
    """An NVIDIA driver on this machine (without asking CUDA, which would open a context)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


def app_probe(device_spec: str) -> Callable[[], str]:
    """The app's figure: the training device's memory (torch.cuda.mem_get_info: the device's
    context already exists), with NVML's utilisation where it is installed; on the CPU (or
    MPS) the process's resident memory."""
    index: list[int | None] = []

    def probe() -> str:
        if not index:
            index.append(_cuda_index(device_spec))
        i = index[0]
        if i is None:
            return resident_text()
        import torch

        free, total = torch.cuda.mem_get_info(i)
        gpus = Nvml.gpus([i])
        util = gpus[0].util if gpus else None
        return "device " + format_gpus([Gpu(i, float(total - free), float(total), util)])

    return probe


def _cuda_index(spec: str) -> int | None:
    try:
        device = resolve_device(spec)
    except ValueError:
        return None
    if device.type != "cuda":
        return None
    import torch

    return device.index if device.index is not None else torch.cuda.current_device()


def watch_probe() -> str:
    """``walker-tui watch``'s figure: this machine's GPUs through NVML, and the watcher's own
    resident memory (it is the watcher's machine, which may not be the job's)."""
    gpus = Nvml.gpus()
    mine = resident_text("watcher")
    if gpus:
        return f"this machine: {format_gpus(gpus)} · {mine}"
    if gpu_present():
        return f"this machine: {NVML_HINT} · {mine}"
    return f"this machine: no GPU · {mine}"


class DeviceMonitor:
    """Calls ``probe`` (a function returning the line) every ``interval`` seconds (at least 1)
    on a daemon thread; :attr:`text` is the latest line, ``on_change`` is called (on that
    thread) when it changes. A probe that raises gives its one-line reason."""

    def __init__(
        self,
        probe: Callable[[], str],
        on_change: Callable[[], None] | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.probe = probe
        self.on_change = on_change
        self.interval = max(INTERVAL, interval)
        self.text: str | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DeviceMonitor:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="device-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def sample(self) -> str:
        try:
            text = self.probe()
        except Exception as error:  # noqa: BLE001 (a figure that fails says so, once a second)
            text = f"device figures failed: {type(error).__name__}: {error}"[:120]
        self.samples += 1
        return text

    def _run(self) -> None:
        while not self._stop.is_set():
            text = self.sample()
            if text != self.text:
                self.text = text
                if self.on_change is not None:
                    try:
                        self.on_change()
                    except RuntimeError:  # the app's loop has closed
                        return
            self._stop.wait(self.interval)
