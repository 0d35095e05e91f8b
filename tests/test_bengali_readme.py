"""README.bn.md carries what README.md carries for a learner (issue 18): every path of the "What is where"
table, every row of the troubleshooting table, and the note on shared files with `--force`. The stage
table is checked apart (tests/test_docs.py). Reads two files: milliseconds."""
from __future__ import annotations

import re

from kit.course.catalogue import KIT_ROOT

EN = (KIT_ROOT / "README.md").read_text(encoding="utf-8")
BN = (KIT_ROOT / "README.bn.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    found = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found, f"no section {heading!r}"
    return found.group(1)


def _first_cells(section: str) -> list[str]:
    return [line.split("|")[1].strip() for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("|---")][1:]   # the heading row left out


def test_what_is_where_names_every_path_the_english_names():
    english = _first_cells(_section(EN, "What is where"))
    bengali = _first_cells(_section(BN, "কোথায় কী আছে"))
    assert english and set(english) <= set(bengali), set(english) - set(bengali)


def test_troubleshooting_has_every_row():
    english = _first_cells(_section(EN, "Troubleshooting"))
    bengali = _first_cells(_section(BN, "সমস্যা হলে"))
    def quoted(cells):   # the messages a learner sees, quoted as they appear; the words around them translated
        return [span for cell in cells for span in re.findall(r"`[^`]+`", cell)[:1]]
    assert len(bengali) == len(english) and quoted(english) == quoted(bengali), (quoted(english), quoted(bengali))


def test_solving_and_resetting_say_when_force_is_needed():
    stuck = re.search(r"\*\*আটকে গেছেন\?\*\*(.*?)\n\n", BN, re.S).group(1)
    assert "`--force`" in stuck and "`solutions/`" in stuck and ".kit-backups" in stuck
    assert "`--force`" in EN   # the English note it says again
