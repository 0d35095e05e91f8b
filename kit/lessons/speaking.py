"""What a translated lesson's cells show, said in the lesson's language: printed lines, rich tables, Markdown
and plots (LESSON_SAYS, installed once by lesson())."""
from __future__ import annotations

import sys

from kit.course import i18n
from kit.course.i18n import N_, _


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
