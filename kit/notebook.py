"""Helpers for the lessons: set-up cells, the checkpoint cell, one background daphne per project.

    from kit.notebook import lesson
    project = lesson("consumer")       # which tree is active, links to this stage's files

    from kit import check
    check("consumer")                  # grades the saved files, shows the verdict table

    from kit.notebook import serve, stop
    server = serve()                   # re-running the cell reuses the running server

Everything here runs inside the learner's kernel, whose event loop is already
running: helpers that talk to sockets are coroutines the cell awaits.
Running lessons from outside (the kit's tests) is tests/notebook_runner.py's job.
"""
from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import os
import sys
import threading
from pathlib import Path

from . import catalogue, i18n
from .i18n import N_, T, _
from .project import active_project, validate

i18n.adopt_notebook_language()  # a kernel in notebooks/bn/ speaks Bengali, and so do the checks it starts
_servers: dict[Path, "object"] = {}
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
        from .fonts import use_for_plots

        use_for_plots()  # this lesson's plots may carry Bengali labels
        speak_lesson_language()
    root = _active_tree()
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


def _active_tree(project=None) -> Path:
    from .project import NotAProjectTree

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
    root = _active_tree(project)
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


# -- the checkpoint cell ---------------------------------------------------------
class CheckResult:
    """What check() returns. It shows itself as the verdict table with a verdict line under it
    (HTML in JupyterLab, text anywhere else), as otter-grader's check results do.

    When grading could not run at all, `error` says why in one sentence and `report` is None.
    """

    def __init__(self, report=None, *, error: str | None = None, stages=()):
        self.report = report
        self.error = error
        self.stages = [s.id for s in report.stages] if report is not None else list(stages)
        self.passed = report is not None and report.all_passed
        self.score = report.score if report is not None else 0
        self.max_score = report.max_score if report is not None else 0

    def verdict(self) -> str:
        names = ", ".join(self.stages) or _("every stage")
        if self.error:
            return _("Checkpoint {names}: not graded. {error}").format(names=names, error=i18n.translated(self.error))
        if self.passed:
            said = _("Checkpoint {names}: passed, {score}/{max_score} points.").format(
                names=names, score=self.score, max_score=self.max_score)
            following = _stage_after(self.stages)
            if following is None:
                return said
            return said + " " + _("Next: stage {number} {id}, in {notebook}.").format(
                number=i18n.numeral(following.number), id=following.id, notebook=following.notebook)
        broken = self.report.broken if self.report is not None else []
        if len(broken) > 1:
            return _("Checkpoint {names}: not passed yet ({score}/{max_score} points), and stages {broken}, "
                     "graded again, fail now. Fix what the table says, save the file, and run this cell "
                     "again.").format(names=names, score=self.score, max_score=self.max_score,
                                      broken=", ".join(broken))
        if broken:  # the points are the asked stages' alone; a re-checked stage that fails is said here
            return _("Checkpoint {names}: not passed yet ({score}/{max_score} points), and stage {broken}, "
                     "graded again, fails now. Fix what the table says, save the file, and run this cell "
                     "again.").format(names=names, score=self.score, max_score=self.max_score,
                                      broken=", ".join(broken))
        return _("Checkpoint {names}: not passed yet ({score}/{max_score} points). "
                 "Fix what the table says, save the file, and run this cell again.").format(
            names=names, score=self.score, max_score=self.max_score)

    def _recorded(self):
        """The table as rich records it, for the plain-text view. force_jupyter=False: inside a kernel a
        Jupyter-aware console would display every print itself, a second and third copy of the table."""
        import io

        from rich.console import Console

        from .render import table

        console = Console(record=True, file=io.StringIO(), width=100, color_system="truecolor",
                          force_jupyter=False, force_terminal=False)
        console.print(table(self.report))
        return console

    def __repr__(self) -> str:
        if self.report is None:
            return self.verdict()
        return self._recorded().export_text() + self.verdict()

    def _repr_html_(self) -> str:
        colour = "#2a9d8f" if self.passed else "#c0392b"
        line = f'<p style="color:{colour};font-weight:bold">{_escape(self.verdict())}</p>'
        if self.report is None:
            return line
        return _report_html(self.report) + line


_VERDICT_COLOUR = {"pass": "#2a9d8f", "fail": "#c0392b", "not yet available": "#6c757d"}


def _report_html(report) -> str:
    """The verdict table as an HTML table: it wraps to whatever width the notebook has, and the browser
    shapes Bengali itself (rich's fixed-width grid is cut off at the right edge and slips on Bengali).
    Styles are inline: JupyterLab's own table style centres tables and right-aligns cells."""
    from .catalogue import get
    from .render import VERDICTS, said

    lang = i18n.language()
    cell = "text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid rgba(128,128,128,.35)"
    heads = ["#", _("stage"), _("points"), _("verdict"), _("what to fix next")]
    rows = []
    for result in report.stages:
        fix = ""
        if result.failures:
            message, hint = said(result.failures[0], lang)
            fix = _escape(message)
            if hint:
                fix += f'<br><span style="opacity:.7">{_escape(_("hint: {hint}").format(hint=hint))}</span>'
        verdict = result.verdict if lang == i18n.SOURCE else _(VERDICTS[result.verdict])
        points = f"{result.points}/{result.max_points}" if result.available else "-"
        # A stage graded again for the asked one: below it, dimmer, its points not in the score.
        again = _("re-checked")
        again = f'<br><span style="opacity:.7">{_escape(again)}</span>' if result.recheck_of else ""
        rows.append(
            f'<tr style="{"opacity:.75" if result.recheck_of else ""}">'
            f'<td style="{cell};text-align:right">{i18n.numeral(get(result.id).number, lang)}</td>'
            f'<td style="{cell};white-space:nowrap"><code>{_escape(result.id)}</code>{again}</td>'
            f'<td style="{cell};text-align:right;white-space:nowrap">{points}</td>'
            f'<td style="{cell};white-space:nowrap;font-weight:bold;color:{_VERDICT_COLOUR[result.verdict]}">'
            f'{_escape(verdict)}</td>'
            f'<td style="{cell};white-space:pre-wrap;overflow-wrap:anywhere;width:100%">{fix}</td></tr>')
    head = "".join(f'<th style="{cell};font-weight:bold">{_escape(h)}</th>' for h in heads)
    from .render import caption_of

    title = _("Channels Kit: {project}").format(project=report.project)
    caption = caption_of(report)
    return (f'<table class="kit-report" style="table-layout:auto;margin:0;width:100%;max-width:100%;'
            f'border-collapse:collapse">'
            f'<caption style="caption-side:top;text-align:left;font-style:italic;padding:2px 8px">'
            f'{_escape(title)}</caption><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p style="font-style:italic;opacity:.7;margin:2px 8px">{_escape(caption)}</p>')


def check(*stages: str, project=None) -> CheckResult:
    """Grade the learner's saved files; the result shows the verdict. Never raises into the cell.

    One hop: the grader runs here, and it already grades each stage in fresh
    child processes, so the kernel's event loop never meets the checks.
    """
    try:
        root = _active_tree(project)
        for stage_id in stages:
            catalogue.get(stage_id)
    except LessonError as exc:
        return CheckResult(error=str(exc), stages=stages)
    except catalogue.UnknownStage as exc:
        return CheckResult(error=str(exc).strip("\"'") + ".", stages=stages)
    report, error = _grade(root, list(stages), recheck=True)
    if report is None:
        return CheckResult(error=error, stages=stages)
    result = CheckResult(report)
    if stages:  # the verdict names the stages asked for; the table also shows the earlier ones re-checked
        result.stages = list(stages)
    return result


def _grade(root: Path, stages: list[str], *, recheck: bool = False):
    """(report, None), or (None, one sentence saying why grading could not run).

    The grader runs in a thread of its own: it needs no main-thread signal
    handling there, and no running event loop is in its way. Ctrl-C (the
    kernel's interrupt) stops its checks and says so.
    """
    from . import grader, procs
    from .gradingline import GradingLine

    outcome = {}
    line = GradingLine(stages)

    def work():
        try:
            outcome["report"] = grader.grade(root, stages, recheck=recheck, on_stage_done=line.stage_done)
        except BaseException as exc:  # anything at all becomes a sentence for the learner
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="kit-check", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
            line.tick()
    except KeyboardInterrupt:
        # The grader stops its own checks only when interrupted in its own thread; these are its checkers.
        for proc in list(getattr(grader, "_running", ())):
            procs.stop_tree(proc, grace=2)
        worker.join(30)
        return None, T("Interrupted: grading was stopped before it finished.")
    finally:
        line.close()
    if "report" in outcome:
        return outcome["report"], None
    exc = outcome.get("error")
    detail = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__
    return None, T("The grader could not run: {detail}.", detail=detail.rstrip("."))


def hint(stage: str | None = None, project=None) -> str:
    """Print the next hint for the first failing check (of `stage`, else of the first failing stage).

    Runs `kit hint` in a fresh process, as check() grades, so the saved files are
    what counts and the hint ladder climbed here is the one `kit hint` climbs.
    Never raises: a hint cell that fails would leave the learner with less help.
    """
    import subprocess

    try:
        root = _active_tree(project)
        cmd = [sys.executable, "-m", "kit", "hint", *([stage] if stage else []), "--project", str(root)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        text = done.stdout.strip() if done.returncode in (0, 1) and done.stdout.strip() else \
            T("No hint could be found: {error}", error=(done.stderr or done.stdout).strip()).translate()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        text = T("No hint could be found: {error}", error=str(exc)).translate()
    print(text)
    return text


# -- a background daphne ---------------------------------------------------------
def serve(project=None, *, restart: bool = False, **options):
    """The background daphne for this project: started once, reused when the cell runs again."""
    from .server import DaphneServer, ServerError

    root = _active_tree(project)
    server = _servers.get(root)
    if server is not None and server.running and not restart:
        print(T("daphne is already running at {url}/chat/ (serve(restart=True) after editing files)",
                url=server.url).translate())
        return server
    # A restart keeps the port: the chat pages already open in the browser reconnect to the same address.
    keep = {"port": server.port} if server is not None and server.port and "port" not in options else {}
    if server is not None:
        server.stop()
    try:
        try:
            server = DaphneServer(root, **options, **keep).start()
        except ServerError:
            if not keep:
                raise
            server = DaphneServer(root, **options).start()   # the old port was taken meanwhile: a free one
    except ServerError as exc:
        raise LessonError(T("daphne did not start: {error}", error=i18n.translated(str(exc))).translate()) from None
    _servers[root] = server
    # the same sentence as `kit serve`'s, so it has one translation
    print(T("daphne is serving {project} at {url}/chat/ (ready in {seconds:.1f} s)", project=f"{root.name}/",
            url=server.url, seconds=server.started_in).translate())
    return server


def stop(project=None) -> None:
    """Stop the background daphne (all of them when no project is named)."""
    roots = [validate(project)] if project else list(_servers)
    for root in roots:
        server = _servers.pop(root, None)
        if server is not None:
            server.stop()
            print(T("daphne for {project} stopped", project=f"{root.name}/").translate())


atexit.register(stop)


# -- WebSocket clients in cells ---------------------------------------------------
async def open_client(server, room: str):
    """A `websockets` client in one room of the running daphne, sending a page's Origin as a browser does.

    The same as `await websockets.asyncio.client.connect(server.ws_url(room), origin=server.origin)`,
    but a refused handshake is explained from daphne's log instead of shown as a traceback.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        ws = await connect(server.ws_url(room), origin=server.origin, open_timeout=10)
    except InvalidStatus as exc:
        clue = _server_clue(server)
        raise LessonError(T("daphne refused the socket for room {room} with HTTP {status}. {clue}Stages 1 to 4 "
                            "should pass first: check('settings', 'asgi', 'consumer', 'routing').",
                            room=repr(room), status=exc.response.status_code,
                            clue=clue + " " if clue else "").translate()) from None
    except (OSError, asyncio.TimeoutError, TimeoutError) as exc:
        raise LessonError(T("Could not reach daphne at {url}: {error}. Is it running? Run serve() again.",
                            url=server.url, error=str(exc) or type(exc).__name__).translate()) from None
    _client_servers[id(ws)] = server   # inbox() then explains a crash from this server's log
    return ws


_client_servers: dict[int, object] = {}


def _server_clue(server) -> str:
    """daphne's first error, said as the checkpoints say it (kit/explain.py): place in the tree, likely cause."""
    from .explain import Places

    try:
        log = server.log_text()
        clue = Places(server.project).server_clue(log)
    except Exception:  # noqa: BLE001 - a clue is a help, never a second failure
        return ""
    if clue:
        return clue.translate() if isinstance(clue, T) else clue
    last = _last_error(log)
    return T("daphne's log says: {error}.", error=last).translate() if last else ""


def _last_error(log: str) -> str:
    """The last exception line in daphne's log ('ValueError: No route found ...'), or ''."""
    lines = [line.strip() for line in log.splitlines()]
    errors = [line for line in lines if line and not line.startswith(("File ", "Traceback", "^"))
              and ("Error" in line.split(":")[0] or "Exception" in line.split(":")[0])]
    return errors[-1].rstrip(".") if errors else ""


async def inbox(ws, *, quiet: float = 0.5, limit: float = 10.0) -> list[str]:
    """The messages that reach one client until it has been quiet for `quiet` seconds.

    Good for showing what arrived; checkpoints prove "nothing arrived" by message order instead.
    """
    from websockets.exceptions import ConnectionClosed

    got: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        try:
            frame = await asyncio.wait_for(ws.recv(), quiet)
        except (asyncio.TimeoutError, TimeoutError):
            break
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            got.append(_("(closed by the server, code {code})").format(code=code if code is not None else 'none'))
            server = _client_servers.get(id(ws))
            if code == 1011 and server is not None:  # 1011: the consumer crashed; say why, as a checkpoint does
                clue = _server_clue(server)
                if clue:
                    got.append(clue)
            break
        got.append(_message_of(frame))
    return got


def _message_of(frame) -> str:
    try:
        data = json.loads(frame)
    except (TypeError, ValueError):
        return repr(frame)
    return data["message"] if isinstance(data, dict) and "message" in data else frame


def show_received(received: dict[str, list[str]], rooms: dict[str, str] | None = None,
                  title: str = i18n.N_("Who received what")) -> None:
    """A small table: one row per client, the messages it received in order (headings in the lesson's language)."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=_(title))
    grid.add_column(_("client"), style="bold")
    if rooms:
        grid.add_column(_("room"))
    grid.add_column(_("received, in order"))
    from rich.markup import escape

    from .grader import as_data

    def data(text) -> str:   # what a learner's server sent: shown as text, never as markup or escapes
        text = str(text)
        if text.endswith(HISTORY_MARK):   # a lesson's own marker, not the server's words
            return escape(as_data(text[:-len(HISTORY_MARK)])) + "   " + escape(_("(history)"))
        return escape(as_data(text))

    for name, messages in received.items():
        shown = "\n".join(data(m) for m in messages) if messages else "[dim]" + _("(nothing)") + "[/dim]"
        # a client's name is the lesson's label ("bob, after a restart"): said in the lesson's language
        grid.add_row(data(said_in_lesson_language(name)), *([data(rooms.get(name, ""))] if rooms else []), shown)
    Console().print(grid)


# -- what lesson cells show, in the lesson's language -------------------------------------------
# A lesson's code is the same in every language (tests/test_bengali_code.py), so the English its cells
# show (a table's title and headings, a plot's labels, a printed line of guidance) is said again in the
# lesson's language as it is shown: a text that is one of these sentences, whole or line by line, or a
# line made from one of these templates ({value} matches any text), shows its catalogue translation.
# Anything else (the learner's own output, values, code) is shown as it is.
LESSON_SAYS = (
    # 00: the polling/push experiment, its table and its plot
    N_("HTTP server listening on {url}"), N_("WebSocket server listening on {url}"),
    N_("How late did each client learn the news? (seconds)"), N_("item"), N_("happened at"),
    N_("HTTP polling: late by"), N_("WebSocket push: late by"),
    N_("HTTP: {requests} requests, {empty} of them answered 'nothing new'. WebSocket: 1 connection, {pushed} "
       "pushed messages."),
    N_("an HTTP request (poll)"), N_("a news item happens"), N_("HTTP client"), N_("(learns at its next poll)"),
    N_("newsroom"), N_("WebSocket client"), N_("(told at once)"), N_("seconds since the start"),
    N_("Polling against push: a slanted arrow is time spent waiting"), N_("both experiment servers stopped"),
    # 01, 02: guidance printed by the lessons
    N_("No channel layer yet: add CHANNEL_LAYERS to settings.py, save, restart the kernel, run again."),
    N_("Good: the socket reached URLRouter. No route matches yet; stages 3 and 4 add one."),
    N_("Your application still sends WebSockets to Django: add the 'websocket' entry."),
    # tables of who received what (show_received titles)
    N_("After Bob left"), N_("Three messages, two rooms"), N_("After the restart"), N_("In-memory layer, two workers"),
    N_("Redis layer, two workers"), N_("In-memory layer: kernel and daphne"), N_("Bob joins after three messages"),
    N_("The room remembers"), N_("bob, after a restart"), N_("test sockets closed"),
    # 07: two workers, the benchmark plot
    N_("worker A: {a}   worker B: {b}   (both: in-memory layer)"), N_("deliveries per second (more is better)"),
    N_("messages lost, % (silently!)"), N_("{clients} clients in one room, {senders} senders x {messages} messages"),
    N_("workers and Redis stopped"),
    # 09
    N_("sent, without an error"),
    # 11: the model, the blocking query and its plot
    N_("myapp/models.py has no Message model yet: write it, save, and restart the kernel (Django reads the models "
       "once, when it starts)."),
    N_("iterating the QuerySet on the loop: SynchronousOnlyOperation (its query had not run yet)"),
    N_("message.author on the loop: SynchronousOnlyOperation (the user is one more query)"),
    N_("{count} messages so far, counted on another thread; database_sync_to_async ran on: {worker}"),
    N_("bob was sent {count} frames, all marked history: {all}"),
    N_("query on the loop"), N_("query in a thread (database_sync_to_async)"), N_("heartbeat tick"),
    N_("ms since the previous tick"), N_("What every other socket feels during one slow query"),
    N_("{name} longest gap between ticks: {gap} ms"), N_("on the loop"), N_("in a thread"),
    # labels the lessons print before a value (print("alice got:", message))
    N_("your channel layer:"), N_("a new mailbox:"), N_("received:"), N_("the app sent:"), N_("application:"),
    N_("it routes:"), N_("WebSocket handshake accepted:"), N_("alice got:"), N_("bob got:"),
    N_("carol's first message:"), N_("lobby members now:"), N_("{name} connected to {room}: {accepted}"),
    N_("your patterns:"), N_("the notebook client received:"), N_("uses window.location:"), N_("connected:"),
    N_("carol's connection after the restart:"), N_("with nest_asyncio:"), N_("Redis at"),
    N_("worker A: {a}   worker B: {b}   (both: REDIS_URL={url})"), N_("daphne logged:"), N_("none"),
    N_("from attacker.example ->"), N_("from the chat's page  ->"), N_("from attacker.example"),
    N_("from the chat's page"), N_("\\w+ matches the whole name:"),
    N_("alice sent 100 messages at once; bob received {got}; alice was refused {refused} times"),
    N_("users:"), N_("the stranger was refused at the handshake:"), N_("{name} received {frames}"),
    N_("this cell runs on:"), N_("saved:"), N_("first:"), N_("| last:"), N_("alice received:"),
    N_("members while bob is connected:"),
    N_("members after bob left:"), N_("members after carol left the forgetful consumer:"),
    # 04's knock() and 08's attack(): what a socket's try came to (a value of "{name} -> {answer}")
    N_("accepted"), N_("closed by the server"), N_("refused: {error}"), N_("{path} accepted"),
    N_("{path} closed by the server"), N_("{path} refused: {error}"),
    N_("{name} -> {answer}"), N_("handshake refused: HTTP {status}"), N_("connected"), N_("reply: {frame}"),
    N_("closed by the server, code {code} (1011: the consumer crashed)"), N_("closed by the server, code {code}"),
    N_("no answer within 3 s"), N_("not JSON"), N_("a JSON list"), N_("a JSON string"), N_("wrong key"),
    N_("a number"), N_("empty"), N_("blank"), N_("binary frame"), N_("{size} characters"),
    # 02, 05, 07, 09, 10: values printed beside code
    N_("({count} bytes of HTML)"), N_("{element} found"), N_("{element} MISSING"), N_("(exit code {code})"),
    N_("{channel} pub/sub channel, {count} subscriber(s)"), N_("{key} sorted set {members}"),
    N_("POST as {who}:"), N_("an anonymous visitor"), N_("open"),
    N_("in two browsers (one private window) as alice and bob"),
    # 01: a setting the learner has not written yet
    N_("(not set)"),
    # 07: a quiet room on each Redis layer
    N_("still listening after 8 quiet seconds"), N_("a message arrived?"), N_("{error} after {seconds} s: {detail}"),
    # 05: the room's link, shown as Markdown (two names for the one URL: a template names each value once)
    N_("Open the room in a browser tab: [{url}]({link}) (open it twice to chat with yourself)"),
    # 09: the command line a cell echoes before its output; 10: a label before a value
    N_("{command}   (REDIS_URL={url})"), N_("not set"), N_("| has a password field:"),
)
HISTORY_MARK = "   (history)"   # 11's marker on a line the room's history sent


def _templates():
    import re

    found = []
    for template in LESSON_SAYS:
        if "{" not in template:
            continue
        parts = re.split(r"\{(\w+)(?:[:!][^}]*)?\}", template)
        pattern = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
        found.append((template, re.compile(pattern)))
    return found


def said_in_lesson_language(text: str) -> str:
    """A text a lesson cell shows, in the lesson's language where LESSON_SAYS has it; else unchanged."""
    if not text or not isinstance(text, str) or i18n.language() == i18n.SOURCE:
        return text
    whole = _(text.strip())
    if whole != text.strip():
        return text.replace(text.strip(), whole)
    return "\n".join(_said_line(line) for line in text.split("\n"))


def _said_line(line: str, depth: int = 0) -> str:
    import re

    core = line.strip()
    if not core:
        return line
    said = _(core)
    if said != core:
        return line.replace(core, said)
    if depth > 1:   # a value inside a value inside a line is as deep as the lessons go
        return line
    for template, pattern in _templates():
        match = pattern.fullmatch(core)
        if match:
            translated_ = re.sub(r"\{(\w+)(?:[:!][^}]*)?\}", r"{\1}", _(template))   # values arrive as text
            # a value may be a lesson's sentence too ("on the loop", "closed by the server, code 1000");
            # padded to its printed width where a space follows it, so printed columns stay aligned
            values = {name: _said_line(value.strip(), depth + 1) for name, value in match.groupdict().items()}
            for name, said in values.items():
                raw = match.group(name)
                if raw[:1].isspace():                        # a right-aligned number
                    values[name] = said.rjust(len(raw))
                elif f"{{{name}}} " in translated_:          # a left-aligned label
                    values[name] = said.ljust(len(raw))
            try:
                return line.replace(core, translated_.format(**values))
            except (KeyError, IndexError, ValueError):
                return line
    return line


_speaking = False


def speak_lesson_language() -> None:
    """In a translated lesson's kernel: what its cells print, its rich tables and its plots say LESSON_SAYS in
    the lesson's language (installed once, by lesson())."""
    global _speaking
    if _speaking:
        return
    _speaking = True
    import builtins

    english_print = builtins.print

    def print_(*args, sep=" ", end="\n", file=None, flush=False):
        if (file is None or file in (sys.stdout, sys.stderr)) and args:
            line = (sep if sep is not None else " ").join(args) if all(isinstance(a, str) for a in args) else None
            said = said_in_lesson_language(line) if line is not None else None
            if said is not None and said != line:      # one line, said whole
                args = (said,)
            else:                                      # labels and values: each label alone
                args = tuple(said_in_lesson_language(a) if isinstance(a, str) else a for a in args)
        english_print(*args, sep=sep, end=end, file=file, flush=flush)

    builtins.print = print_
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        pass
    else:
        rich_print = Console.print

        def console_print(self, *objects, **options):
            for shown in objects:
                if isinstance(shown, Table):
                    if isinstance(shown.title, str):
                        shown.title = said_in_lesson_language(shown.title)
                    for column in shown.columns:
                        if isinstance(column.header, str):
                            column.header = said_in_lesson_language(column.header)
            objects = tuple(said_in_lesson_language(o) if isinstance(o, str) else o for o in objects)
            return rich_print(self, *objects, **options)

        Console.print = console_print
    try:
        from IPython.display import Markdown
    except ImportError:
        pass
    else:   # a cell's display(Markdown(f"...")): its text, said as it is shown (the link inside kept)
        english_markdown = Markdown._repr_markdown_

        def repr_markdown(self):
            shown = english_markdown(self)
            if isinstance(shown, tuple):
                return (said_in_lesson_language(shown[0]), *shown[1:])
            return said_in_lesson_language(shown)

        Markdown._repr_markdown_ = repr_markdown
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return
    english_figure = FigureCanvasBase.print_figure

    def print_figure(self, *args, **kwargs):
        _say_figure(self.figure)
        return english_figure(self, *args, **kwargs)

    FigureCanvasBase.print_figure = print_figure


def _say_figure(figure) -> None:
    """Every text of a figure (titles, axis labels, legend, fixed tick labels) in the lesson's language."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter

    for axes in figure.get_axes():
        for axis in (axes.xaxis, axes.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, FixedFormatter):
                formatter.seq = [said_in_lesson_language(label) for label in formatter.seq]
            labels = getattr(getattr(formatter, "func", None), "args", ())   # set_ticks(..., labels): a dict
            for given in labels:
                if isinstance(given, dict):
                    given.update({k: said_in_lesson_language(v) for k, v in given.items() if isinstance(v, str)})
    for text in figure.findobj(Text):
        shown = text.get_text()
        if shown:
            said = said_in_lesson_language(shown)
            if said != shown:
                text.set_text(said)


# -- a mistake in the learner's code, in an experiment cell -------------------------
def explain_error(exc: BaseException, project=None) -> str | None:
    """Two lines for an exception an experiment cell raised, as a checkpoint would say it (kit/explain.py):
    what went wrong, where in the learner's tree, the likely cause; then what to do. None when the
    exception has nothing to do with the learner's files (a typo in the cell itself keeps Python's own
    traceback)."""
    from .explain import Places, likely_cause

    if isinstance(exc, (LessonError, KeyboardInterrupt)):
        return None
    try:
        places = Places(_active_tree(project))
    except LessonError:
        return None
    if isinstance(exc, SyntaxError):
        ours = bool(exc.filename) and places.contains(exc.filename)
    else:
        ours = bool(places.where(exc)) or bool(likely_cause(str(exc)))
    if not ours:
        return None
    said = places.explain(exc, T("Your code stopped this experiment"))
    from .grader import as_data

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


# -- progress strip ---------------------------------------------------------------
def progress(project=None):
    """A strip of every stage (passed, next, still to come) for the top of a lesson.

    Grades every stage, as check() does, so it takes a little while; the last
    expression of a cell, it shows as HTML.
    """
    from IPython.display import HTML

    root = validate(project or active_project())
    report, error = _grade(root, [])
    if report is None:
        return HTML(f"<p><b>{_escape(error)}</b></p>")
    return HTML(_progress_html(report.to_dict()))


def _escape(text: str) -> str:
    """Text for the notebook's HTML: no control characters (kit/grader.py as_data), then HTML-escaped."""
    import html

    from .grader import as_data

    return html.escape(as_data(text), quote=True)


def _progress_html(report: dict) -> str:
    """The strip for one `kit check --json` report: green passed, amber next, grey to come."""
    from . import catalogue

    upcoming = next((s for s in report["stages"] if s.get("available", True) and not s["passed"]), None)
    boxes = []
    for entry in report["stages"]:
        stage = catalogue.get(entry["id"])
        if not entry.get("available", True):
            mark, colour, why = "·", "#adb5bd", _("not yet available")
        elif entry["passed"]:
            mark, colour, why = "✔", "#2a9d8f", _("{points}/{max_points} points").format(
                points=entry['points'], max_points=entry['max_points'])
        else:
            mark, colour = ("➜", "#e9a23b") if entry is upcoming else ("✘", "#6c757d")
            first = entry["failures"][0] if entry["failures"] else None
            why = ((first.get("translation") or {}).get("message") or first["message"]) if first \
                else _("not passed yet")
        boxes.append(f'<span title="{_escape(why)}" style="padding:3px 8px;border-radius:4px;color:white;'
                     f'background:{colour};white-space:nowrap">'
                     f'{mark} {i18n.numeral(stage.number)} {_escape(stage.id)}</span>')
    if upcoming is None:
        after = "<b>" + _escape(_("Every available stage passes.")) + "</b>"
    else:
        stage = catalogue.get(upcoming["id"])
        after = _("Next: stage {number} {title} in {notebook} (files: {files})").format(
            number=i18n.numeral(stage.number), title=f"<b>{_escape(_(stage.title))}</b>",
            notebook=f'<a href="{_escape(stage.notebook)}">{_escape(stage.notebook)}</a>',
            files=_escape(", ".join(stage.files)))
    score = _("Score {score}/{max_score}.").format(score=report["score"], max_score=report["max_score"])
    return (f'<div class="kit-progress" style="font-family:sans-serif;line-height:2">'
            f'<div style="display:flex;flex-wrap:wrap;gap:4px">{"".join(boxes)}</div>'
            f'<div>{_escape(score)} {after}</div></div>')


def _stage_after(stage_ids) -> "catalogue.Stage | None":
    """The course's next available stage after the last of these (a passed checkpoint names where to go)."""
    known = [s.id for s in catalogue.STAGES]
    asked = [known.index(i) for i in stage_ids if i in known]
    later = [s for s in catalogue.STAGES[max(asked) + 1:] if s.available] if asked else []
    return later[0] if later else None
