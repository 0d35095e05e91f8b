"""`make lab-bn`: kernels and terminals of the Bengali lab speak Bengali; a lesson's own folder still wins.
(The lab's real terminal is driven in tests/test_lab.py.)"""
from __future__ import annotations

import subprocess
import sys

from conftest import KIT_ROOT

from kit.course import catalogue

ASK = "import sys, types; sys.modules.setdefault('ipykernel', types.ModuleType('ipykernel')); " \
      "from kit.course.i18n import language; print(language())"


def language_in(folder, **env) -> str:
    """The language a kernel working in folder speaks, with env as JupyterLab passes it on."""
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(KIT_ROOT), **env}
    done = subprocess.run([sys.executable, "-c", ASK], cwd=folder, env=clean, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_kernel_of_the_bengali_lab_speaks_bengali_outside_the_lessons():
    assert language_in(KIT_ROOT, KIT_LAB_LANG="bn", PYTHONPATH=str(KIT_ROOT)) == "bn"
    assert language_in(catalogue.NOTEBOOKS_DIR / "bn", KIT_LAB_LANG="bn", PYTHONPATH=str(KIT_ROOT)) == "bn"


def test_an_english_lesson_stays_english_in_the_bengali_lab_and_the_english_lab_keeps_the_locale():
    assert language_in(catalogue.NOTEBOOKS_DIR, KIT_LAB_LANG="bn", PYTHONPATH=str(KIT_ROOT)) == "en"
    assert language_in(KIT_ROOT, KIT_LAB_LANG="en", LANG="bn_BD.UTF-8", PYTHONPATH=str(KIT_ROOT)) == "bn"
    assert language_in(KIT_ROOT, KIT_LAB_LANG="en", PYTHONPATH=str(KIT_ROOT)) == "en"


def test_an_english_lessons_kit_commands_stay_english_in_the_bengali_lab():
    ask = ASK.replace("from kit.course.i18n import language; print(language())",
                      "import os; from kit.course.i18n import adopt_notebook_language; adopt_notebook_language(); "
                      "print(os.environ.get('KIT_LANG'))")
    clean = {"PATH": "/usr/bin:/bin", "KIT_LAB_LANG": "bn", "PYTHONPATH": str(KIT_ROOT)}
    for folder, expected in ((catalogue.NOTEBOOKS_DIR, "en"), (catalogue.NOTEBOOKS_DIR / "bn", "bn"), (KIT_ROOT, "None")):
        done = subprocess.run([sys.executable, "-c", ask], cwd=folder, env=clean, capture_output=True, text=True,
                              timeout=60)
        assert done.stdout.strip() == expected, (folder, done.stdout, done.stderr)
