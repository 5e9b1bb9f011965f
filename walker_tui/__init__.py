"""walker-tui: watch and steer Walker SGD (a grid of learning rates tried at once)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["WalkerSGD", "__version__"]

if TYPE_CHECKING:
    from walker_tui.optim import WalkerSGD


def __getattr__(name: str) -> Any:
    """``from walker_tui import WalkerSGD``, loaded on first use: ``import walker_tui`` alone
    stays light (no torch)."""
    if name == "WalkerSGD":
        from walker_tui.optim import WalkerSGD

        return WalkerSGD
    raise AttributeError(f"module 'walker_tui' has no attribute {name!r}")
