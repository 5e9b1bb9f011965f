"""What ``--device`` resolves to (:func:`resolve_device`, :func:`device_name`; torch imported when
they are called, so the watcher and ``serve`` stay without it). The status line's device figures
and their sampling thread are the UI's (walker_tui.ui.device_monitor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` (CUDA, then Apple MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises ValueError naming what is available when the asked-for device is not.
    """
    import torch

    spec = spec.strip().lower()
    cuda_n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(cuda_n)] if cuda_n else [])
    available += ["mps"] if mps else []
    if spec == "auto":
        return torch.device("cuda" if cuda_n else "mps" if mps else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if mps:
            return torch.device("mps")
    elif spec == "cuda" or spec.startswith("cuda:"):
        index = spec.partition(":")[2]
        if index and not index.isdigit():
            raise ValueError(f"unknown device {spec!r}; available here: {', '.join(available)}")
        if cuda_n and (not index or int(index) < cuda_n):
            return torch.device(spec)
    else:
        raise ValueError(
            f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps "
            f"(available here: {', '.join(available)})"
        )
    return _unavailable(spec, available)


def _unavailable(spec: str, available: list[str]) -> torch.device:
    raise ValueError(f"device {spec!r} is not available here; available: {', '.join(available)}")


def device_name(device: torch.device) -> str:
    """A human name for the device: the GPU's name, or the CPU."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return "CPU"
