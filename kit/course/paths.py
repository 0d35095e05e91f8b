"""Where the kit's own folders are: the one fact every other module reads, importing nothing of the kit."""
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parents[2]
EXERCISES_DIR = KIT_ROOT / "exercises"
NOTEBOOKS_DIR = KIT_ROOT / "notebooks"
LOCALE_DIR = KIT_ROOT / "locale"
