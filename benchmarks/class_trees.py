"""The generated class of benchmarks/class_jobs.py: finished, half-done, starter, broken-at-import and hostile trees.

A hostile tree is what a learner out to waste the grader's time would hand in, each cheap to write: a
settings.py that sleeps 30 s at import, a consumer whose connect() never returns (it blocks the event loop),
and a settings.py that forks CPU spinners which leave their session. The spinners name themselves (their
/proc comm) with the run's mark, so the benchmark can tell whether any outlived the grading.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from kit.course import catalogue, files
from kit.course.catalogue import KIT_ROOT

KINDS = ("finished", "half", "starter", "broken", "hostile")
HOSTILE = ("sleep", "hang", "spin")          # the hostile slot takes these in turn
SPINNERS = 3                                 # forked at every import of the spinner's settings.py

SLEEP = "\nimport time\ntime.sleep(30)   # hostile: every import of the settings costs 30 s\n"
HANG = '''
    async def connect(self):   # hostile: never returns, and blocks the event loop while it does not
        import time
        time.sleep(3600)
'''
SPIN = '''
import os as _os


def _spin():   # hostile: CPU spinners that leave the session, named so the benchmark can find them
    for _ in range({count}):
        if _os.fork() == 0:
            try:
                _os.setsid()
                if _os.fork():
                    _os._exit(0)
                with open("/proc/self/comm", "w") as comm:
                    comm.write("{mark}")
            except OSError:
                pass
            while True:
                pass


_spin()
'''


def make_tree(dest: Path, through: str | None, broken: bool = False) -> None:
    shutil.copytree(KIT_ROOT / "project", dest, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    if through:
        files.write_state_after(catalogue.get(through), dest, commands=True)   # makemigrations too, by then
    if broken:
        settings = dest / "myproject" / "settings.py"
        settings.write_text(settings.read_text(encoding="utf-8").replace("INSTALLED_APPS = [", "INSTALLED_APPS = [[", 1),
                            encoding="utf-8")


def make_hostile(dest: Path, through: str, how: str, mark: str) -> None:
    """A finished tree (the checks get far) made hostile in one of HOSTILE's ways."""
    make_tree(dest, through)
    settings = dest / "myproject" / "settings.py"
    if how == "sleep":
        settings.write_text(settings.read_text(encoding="utf-8") + SLEEP, encoding="utf-8")
    elif how == "spin":
        settings.write_text(settings.read_text(encoding="utf-8") + SPIN.format(count=SPINNERS, mark=mark),
                            encoding="utf-8")
    else:
        consumer = dest / "myapp" / "consumers.py"
        text = consumer.read_text(encoding="utf-8")
        start = text.index("    async def connect(self):")
        end = text.index("    async def ", start + 1)
        consumer.write_text(text[:start] + HANG.lstrip("\n") + "\n" + text[end:], encoding="utf-8")


def make_class(root: Path, learners: int, mark: str, stages: list[str]) -> list[str]:
    """learners trees under root, KINDS in turn (the hostile slot taking HOSTILE in turn); their kinds. A half-done
    tree is solved through the first half of the stages graded, so it passes those and fails the rest."""
    available = [s.id for s in catalogue.STAGES if s.available]
    through = {"finished": available[-1], "half": stages[max(0, len(stages) // 2 - 1)], "starter": None,
               "broken": available[-1]}
    made, hostile = [], 0
    for number in range(learners):
        kind = KINDS[number % len(KINDS)]
        if kind == "hostile":
            kind = f"hostile-{HOSTILE[hostile % len(HOSTILE)]}"
            hostile += 1
            make_hostile(root / f"learner{number:03d}-{kind}" / "project", available[-1], kind.split("-")[1], mark)
        else:
            make_tree(root / f"learner{number:03d}-{kind}" / "project", through[kind], broken=kind == "broken")
        made.append(kind)
    return made
