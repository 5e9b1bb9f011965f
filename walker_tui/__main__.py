"""``python -m walker_tui``: the same as the ``walker-tui`` command."""

import sys

from walker_tui.cli import main

sys.exit(main())
