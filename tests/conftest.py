import sys
from pathlib import Path

here = Path(__file__).parent
sys.path.insert(0, str(here / "unit"))
sys.path.insert(0, str(here / "app"))
