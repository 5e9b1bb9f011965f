"""walker-tui: watch and steer Walker SGD (a grid of learning rates tried at once)."""

__version__ = "0.1.0"
