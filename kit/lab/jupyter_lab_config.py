"""The JupyterLab that `make lab` and `make lab-bn` open (the Makefile passes --config=kit/lab/jupyter_lab_config.py).

jupyter_server reads this file (it is not a module of the kit); it adds to the learner's own Jupyter
configuration, and options on the command line still win. Paths are worked out here, from where the
kit lies and which Python runs the lab, so the file holds no machine's paths.

- Terminals: JupyterLab's terminal is a login shell by default, and a login profile that sets PATH
  (Debian's /etc/profile does) drops the kit's .venv/bin, so `kit` was "command not found". Here a
  terminal is an interactive bash whose rc file (kit/lab/bashrc) reads the learner's ~/.bashrc and then
  puts the folder of this lab's Python (where `kit` is installed) first on PATH. In `make lab-bn`
  (KIT_LAB_LANG=bn) terminals also get KIT_LANG=bn, so `kit` speaks Bengali there. Kernels inherit
  KIT_LAB_LANG: a lesson's language comes from its folder, any other notebook's from the lab's (kit/course/i18n.py).
- Settings (kit/lab/settings/overrides.json): the lessons' links to .html files open the editor, not
  the rendered HTML viewer; no news pop-up.
- Kernels: `python3` is IPython's kernel with one change (kit/lessons/kernel.py): in a lesson it reports the
  language_info the lesson carries, without the Python version JupyterLab would copy into the lesson,
  so opening a lesson does not mark it modified. Its name and display name are IPython's, as the
  lessons' kernelspec says, so nothing else in the lesson changes either.
- Workspaces: each language's lab keeps its own (in .kit/lab-workspaces/<lang>/, which git ignores),
  so `make lab-bn` does not reopen the tabs `make lab` left open, nor start their kernels.
- Ports: each language's lab has its own (8888 English, 8889 Bengali; the next free one if taken). A browser
  tab of the stopped English lab keeps saving its layout to whatever lab answers on its port: on a shared
  port it wrote the English tabs into the Bengali workspace, and the Bengali lab reopened them all.
"""
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent          # kit/lab/ (traitlets sets __file__ for config files)
KIT_ROOT = HERE.parent.parent
LANG = os.environ.get("KIT_LAB_LANG") or "en"

c = get_config()  # noqa: F821 - provided by traitlets

bash = shutil.which("bash")
if bash:
    env = [f"KIT_BIN={Path(sys.executable).parent}", *([f"KIT_LANG={LANG}"] if LANG != "en" else [])]
    c.ServerApp.terminado_settings = {"shell_command": ["env", *env, bash, "--rcfile", str(HERE / "bashrc"), "-i"]}

# Jupyter looks for kernels in JUPYTER_PATH's folders first (KernelSpecManager.kernel_dirs cannot be configured):
# kit/lab/kernels/python3 then comes before IPython's own python3. Kernels inherit the variable; it names
# only Jupyter data folders.
os.environ["JUPYTER_PATH"] = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("JUPYTER_PATH")])])
c.LabApp.app_settings_dir = str(HERE / "settings")
c.LabApp.workspaces_dir = str(KIT_ROOT / ".kit" / "lab-workspaces" / LANG)
c.ServerApp.port = {"en": 8888, "bn": 8889}.get(LANG, 8888)
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
