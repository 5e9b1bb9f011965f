"""``python -m walker_tui``: the same as the ``walker-tui`` command."""

import sys

from .cli import main

sys.exit(main())
