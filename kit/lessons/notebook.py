"""The kernel's side of a lesson: the first cell (which tree, which files), Django set up in the kernel, a
module of the tree loaded afresh, and a mistake in the learner's code explained in the cell that ran it.

    from kit.notebook import lesson
    project = lesson("consumer")       # which tree is active, links to this stage's files

The checkpoint cell is kit/lessons/checkpoint.py, the background daphne and the cells' clients
kit/lessons/live.py, what cells show in the lesson's language kit/lessons/speaking.py. Everything here runs
inside the learner's kernel, whose event loop is already running. Running lessons from outside (the kit's
tests) is tests/notebook_runner.py's job.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path

from kit.course import catalogue, i18n
from kit.course.i18n import T, _
from kit.course.project import active_project, validate
from kit.lessons.speaking import said_in_lesson_language, speak_lesson_language

i18n.adopt_notebook_language()  # a kernel in notebooks/bn/ speaks Bengali, and so do the checks it starts
_django_tree: Path | None = None


class LessonError(RuntimeError):
    """A problem the learner can fix, shown in the notebook as one message instead of a traceback.
    A lesson cell's own English message (LESSON_SAYS) is said in the lesson's language."""

    def __init__(self, message="", *args):
        super().__init__(said_in_lesson_language(message) if isinstance(message, str) else message, *args)

    def _render_traceback_(self):  # IPython shows this instead of the traceback
        return [f"\x1b[1;31m{type(self).__name__}:\x1b[0m {self}"]


# -- the first cell ------------------------------------------------------------
def lesson(stage_id: str | None = None) -> Path:
    """Say which tree the notebook works on and link the files this stage edits.

    KIT_PROJECT may point anywhere, so the notebook's own links (to ../project/)
    are not always the tree being graded; this cell says which one is.
    """
    from IPython.display import Markdown, display

    if i18n.language() != i18n.SOURCE:
        from kit.lessons.fonts import use_for_plots

        use_for_plots()  # this lesson's plots may carry Bengali labels
        speak_lesson_language()
    root = active_tree()
    chosen = _("chosen by KIT_PROJECT") if os.environ.get("KIT_PROJECT") else _("the kit's own project/")
    print(_("Active project tree: {root}  ({chosen})").format(root=root, chosen=chosen))
    if not root.is_relative_to(catalogue.KIT_ROOT):
        # `make lab` serves the kit's folder only; files elsewhere open via File > Open from Path.
        print(_("It lies outside the kit's folder: the links in this notebook open the kit's project/, "
                "not this tree. Open its files with File > Open from Path, or your own editor."))
    if stage_id is None:
        display(Markdown(_course_map()))
        return root
    try:
        stage = catalogue.get(stage_id)
    except catalogue.UnknownStage as exc:
        raise LessonError(str(exc).strip("\"'")) from None
    checkpoint = _("ready") if stage.available else _("not yet available (its checks are still being written)")
    if stage.files:
        links = "\n".join(f"- [{name}]({_link(root / name)})" for name in stage.files)
        work = _("You will edit, in the active tree:") + f"\n\n{links}"
    else:
        work = _("No file to edit in this stage: it checks that what you built works together.")
    display(Markdown(_("**Stage {number}: {title}** ({points} points; checkpoint {checkpoint})").format(
        number=i18n.numeral(stage.number), title=_(stage.title), points=stage.points,
        checkpoint=checkpoint) + "\n\n" + work))
    return root


def _course_map() -> str:
    """The course as a table, in the lesson's language (the notebook column links the sibling lessons)."""
    heads = ["#", _("stage"), _("you build"), _("points"), _("notebook")]
    rows = ["| " + " | ".join(heads) + " |", "|---|---|---|---|---|"]
    for stage in catalogue.STAGES:
        builds = _(stage.builds).replace("<", "&lt;").replace(">", "&gt;")  # Markdown would eat <room_name>
        rows.append(f"| {i18n.numeral(stage.number)} | `{stage.id}` | {builds} | {stage.points} | "
                    f"[{stage.notebook}]({stage.notebook}) |")
    return "\n".join(rows)


def _link(path: Path) -> str:
    """A link relative to the lesson's folder (notebooks/, or notebooks/bn/ for a translated lesson),
    which JupyterLab opens in its editor (when the tree is under its root)."""
    here = Path.cwd()
    base = here if here.is_relative_to(catalogue.NOTEBOOKS_DIR) else catalogue.NOTEBOOKS_DIR
    return Path(os.path.relpath(path, base)).as_posix()


def active_tree(project=None) -> Path:
    """The tree the lesson works on (KIT_PROJECT, else the kit's project/), or a LessonError that says how to set it."""
    from kit.course.project import NotAProjectTree

    try:
        return validate(project or active_project())
    except NotAProjectTree as exc:
        said = exc.args[0] if exc.args and isinstance(exc.args[0], T) else str(exc)
        raise LessonError(T("{problem} Set KIT_PROJECT to your project folder (the one holding manage.py), "
                            "then restart the kernel.", problem=i18n.translated(said)).translate()) from None


# -- Django inside the kernel --------------------------------------------------
def use_project(project=None) -> Path:
    """Set Django up for the active tree in this kernel, once, and say which tree."""
    global _django_tree
    root = active_tree(project)
    if _django_tree is not None:
        if _django_tree != root:
            raise LessonError(T("Django in this kernel is already set up for {tree}. Restart the kernel to "
                                "switch trees.", tree=str(_django_tree)).translate())
        print(T("Django is already set up for {tree}", tree=str(root)).translate())
        return root
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's tree, as the grader does
    import django

    _forget_failed_setup(root)
    try:
        django.setup()
    except Exception as exc:
        raise LessonError(T("Loading myproject/settings.py failed: {error}. Fix the file, save it and run this "
                            "cell again.", error=f"{type(exc).__name__}: {exc}").translate()) from None
    _django_tree = root
    print(T("Django is set up for {tree} (settings module myproject.settings)", tree=str(root)).translate())
    return root


def _forget_failed_setup(root: Path) -> None:
    """Undo what a failed django.setup() left behind, so the next try starts afresh, without a restart.

    A setup that raised (a typo in INSTALLED_APPS, an error in settings.py) leaves Django's app
    registry "loading" (every later setup() says "populate() isn't reentrant") and the broken
    settings module imported; both are reset, and the tree's own modules are imported again."""
    from django.apps import apps
    from django.conf import settings

    if not (apps.loading or apps.app_configs) or apps.ready:
        return
    from django.utils.functional import empty

    labels = [config.label for config in apps.app_configs.values()]
    apps.loading = False
    apps.app_configs = {}
    apps.apps_ready = apps.models_ready = apps.ready = False
    apps.clear_cache()
    settings._wrapped = empty
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None) or ""
        if where and Path(where).resolve().is_relative_to(root):
            del sys.modules[name]              # the tree's modules (settings among them) load from disk again
            for label in labels:
                if name == f"{label}.models" or name.startswith(f"{label}.models."):
                    apps.all_models.pop(label, None)


def load(module: str):
    """Import a module of the learner's tree afresh, so the cell sees the last saved version."""
    if _django_tree is None:
        use_project()
    try:
        if module in sys.modules:
            return importlib.reload(sys.modules[module])
        return importlib.import_module(module)
    except Exception as exc:
        where = ""
        if isinstance(exc, SyntaxError) and exc.filename:
            where = T(" ({file}, line {line})", file=Path(exc.filename).name, line=exc.lineno)
        raise LessonError(T("Importing {module} failed{where}: {error}. Fix the file, save it and run this cell "
                            "again.", module=module, where=where, error=f"{type(exc).__name__}: {exc}")
                          .translate()) from None


# -- a mistake in the learner's code, in an experiment cell -------------------------
def explain_error(exc: BaseException, project=None) -> str | None:
    """Two lines for an exception an experiment cell raised, as a checkpoint would say it (kit/grading/explain.py):
    what went wrong, where in the learner's tree, the likely cause; then what to do. None when the
    exception has nothing to do with the learner's files (a typo in the cell itself keeps Python's own
    traceback)."""
    from kit.grading.explain import Places, likely_cause

    if isinstance(exc, (LessonError, KeyboardInterrupt)):
        return None
    try:
        places = Places(active_tree(project))
    except LessonError:
        return None
    if isinstance(exc, SyntaxError):
        ours = bool(exc.filename) and places.contains(exc.filename)
    else:
        ours = bool(places.where(exc)) or bool(likely_cause(str(exc)))
    if not ours:
        return None
    said = places.explain(exc, T("Your code stopped this experiment"))
    from kit.grading.report import as_data

    said = as_data(said.translate() if isinstance(said, T) else said)   # the exception's text, as data
    return said + "\n" + _("Fix it in the file, save it and run this cell again (`%tb` shows Python's whole "
                           "traceback).")


def _explain_in_cell(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for exceptions in cells: a learner's mistake in two lines, anything else as usual."""
    try:
        said = explain_error(value)
    except Exception:  # noqa: BLE001 - never worse than Python's own traceback
        said = None
    if said is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)   # a SyntaxError shown as one, too
        return None
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb   # what %tb shows
    first, _sep, rest = said.partition("\n")
    shell._showtraceback(etype, value, [f"\x1b[1;31m{first}\x1b[0m", rest])
    return None


def _explain_task_error(loop, context) -> None:
    """The kernel loop's handler for a task that died unwatched (a consumer crashing under a
    WebsocketCommunicator): 'Task exception was never retrieved' and its traceback become two lines."""
    exc = context.get("exception")
    try:
        said = explain_error(exc) if isinstance(exc, Exception) else None
    except Exception:  # noqa: BLE001 - never worse than asyncio's own report
        said = None
    if said is None:
        loop.default_exception_handler(context)
    else:
        print(said, file=sys.stderr)


def _explain_errors_in_cells() -> None:
    """Lesson cells that run the learner's code explain its mistakes like checkpoints do: an exception
    in the cell, and one in a task of the kernel's loop that nobody awaited."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    if not shell.custom_exceptions:
        shell.set_custom_exc((Exception,), _explain_in_cell)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if loop.get_exception_handler() is None:
        loop.set_exception_handler(_explain_task_error)


_explain_errors_in_cells()
