"""Show a grading report: a rich table for people, JSON and JUnit XML for machines."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

from kit.grading.report import ADVISORY, Failure, Report, as_data
from kit.course.i18n import N_, SOURCE, _, language, numeral

VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "not yet available": "dim"}
VERDICTS = {"pass": N_("pass"), "fail": N_("fail"), "not yet available": N_("not yet available")}


def measured_right(text: str) -> bool:
    """Does rich give text the width a terminal gives it? Not for Bengali: rich counts its vowel signs
    and conjuncts as zero-width where terminals (wcwidth) give them a cell, so borders after it slip."""
    from rich.cells import cell_len

    try:
        from wcwidth import wcswidth
    except ImportError:   # without wcwidth, trust nothing outside Latin, Greek and Cyrillic
        return all(ord(c) < 0x0590 for c in text)
    return all(cell_len(line) == wcswidth(line) for line in text.splitlines())


def terminal_width(text: str) -> int:
    """The cells a terminal gives text (wcwidth), never less than rich's own count; one per character
    without wcwidth."""
    from rich.cells import cell_len

    try:
        from wcwidth import wcswidth
    except ImportError:
        return max(len(text), cell_len(text))
    return max(max(wcswidth(line), cell_len(line)) for line in text.splitlines() or [""])


@contextmanager
def terminal_measure():
    """While it is open, rich measures text as terminal_width does, so a bordered table with Bengali cells
    (headings, wrapped sentences) keeps its borders in line. It replaces rich's private rich.cells._cell_len
    (rich 15; a rich without it measures as it does, and tests/test_bengali_cli.py fails) and empties rich's
    cache of measured strings on the way in and out, so nothing measured inside is reused outside. One thread
    at a time."""
    import rich.cells as cells

    rich_measure, cache = getattr(cells, "_cell_len", None), getattr(cells, "cached_cell_len", None)
    if rich_measure is None or not hasattr(cache, "cache_clear"):   # another rich: measured as it measures
        yield
        return
    try:
        from wcwidth import wcswidth
    except ImportError:
        def wcswidth(text):
            return len(text)

    def measured(text, *args, **kwargs):
        return max(wcswidth(text), rich_measure(text, *args, **kwargs))   # -1 (a control character): rich's

    cache.cache_clear()
    cells._cell_len = measured
    try:
        yield
    finally:
        cells._cell_len = rich_measure
        cache.cache_clear()


def said(failure: Failure, lang: str) -> tuple[str, str]:
    """A failure's message and hint in lang (the English ones for English or no translation)."""
    if lang == SOURCE:
        return failure.message, failure.hint
    if not failure.translation or failure.translation.get("lang") != lang:
        failure.translate(lang)
    return failure.translation["message"], failure.translation["hint"]


def table(report: Report, lang: str | None = None):
    """The report as a table; where rich mis-measures the chosen language (Bengali), that language's
    sentences are printed below the table and it has no vertical borders, so nothing slips (_aligned)."""
    from rich.markup import escape

    lang = language(lang)
    heads = [_("stage"), _("points"), _("verdict"), _("what to fix next")]
    advice = {r.id: said(r.failures[0], lang) for r in report.stages if r.failures}
    below = lang != SOURCE and not all(measured_right(t) for t in [*heads, *(x for a in advice.values() for x in a)])
    title = _("Channels Kit: {project}").format(project=as_data(report.project, 1000))
    caption = caption_of(report)
    if below:
        return _aligned(report, lang, heads, advice, title, caption)
    # Every string here may hold a learner's text (a message, the tree's folder name): escaped for rich.
    grid = Table(title=escape(title), caption=escape(caption), show_lines=False)
    grid.add_column("#", justify="right")
    grid.add_column(_("stage"))
    grid.add_column(_("points"), justify="right")
    grid.add_column(_("verdict"))
    grid.add_column(_("what to fix next"), overflow="fold", ratio=1)
    from kit.course.catalogue import get

    for result in report.stages:
        shown = ""
        if result.failures:
            message, hint = advice[result.id]
            if lang == SOURCE:   # English as before
                first = result.failures[0]
                shown = (f"{escape(first.message)}\n[dim]hint: {escape(first.hint)}[/dim]" if first.hint
                         else escape(first.message))
            else:
                shown = escape(message) + (f"\n[dim]{escape(_('hint: {hint}').format(hint=hint))}[/dim]" if hint else "")
        verdict = result.verdict if lang == SOURCE else _(VERDICTS[result.verdict])
        # A stage graded again for the asked one: shown after it, its points not in the score.
        again = _("re-checked")
        stage_cell = f"{escape(result.id)}\n[dim]{escape(again)}[/dim]" if result.recheck_of else escape(result.id)
        grid.add_row(numeral(get(result.id).number, lang), stage_cell,
                     f"{result.points}/{result.max_points}" if result.available else "-",
                     f"[{VERDICT_STYLE[result.verdict]}]{verdict}[/]", shown)
    return grid


def caption_of(report: Report) -> str:
    """The table's caption: the score, the isolation, and, without a sandbox, that the points are advisory."""
    isolation = report.isolation.split(":")[0] or "unknown"
    caption = _("score {score} / {max_score}   (isolation: {isolation})").format(
        score=report.score, max_score=report.max_score, isolation=isolation)
    if any(result.recheck_of for result in report.stages):
        caption += "\n" + _("Re-checked stages share a file with the one you asked for: they are graded again to "
                             "show what your change may have broken, and their points are not in the score.")
    if report.advisory:
        caption += "\n" + _(ADVISORY)
    return caption


def _aligned(report: Report, lang: str, heads: list[str], advice: dict, title: str, caption: str):
    """The table for a language rich mis-measures (Bengali): columns padded by the width a terminal
    gives each text (wcwidth), so headings end above their rule and columns stay in line; no vertical
    borders; each failing stage's sentences below, whole."""
    from rich.console import Group
    from rich.text import Text

    from kit.course.catalogue import get

    rows, notes = [], []
    for result in report.stages:
        verdict = _(VERDICTS[result.verdict])
        points = f"{result.points}/{result.max_points}" if result.available else "-"
        number = numeral(get(result.id).number, lang)
        rows.append(([number, result.id, points, verdict, "↓" if result.failures else ""],
                     VERDICT_STYLE[result.verdict]))
        if result.failures:
            notes.append((number, result.id, *advice[result.id]))
    out = [Text(title, style="italic"),
           *padded(["#", *heads], [values for values, _style in rows], right={0, 2},   # numbers on the right
                   styles=[{3: style} for _values, style in rows])]
    out.append(Text(caption, style="dim italic"))
    for number, stage_id, message, hint in notes:
        out.append(Text(f"{number} {stage_id}: {message}"))
        if hint:
            out.append(Text("   " + _("hint: {hint}").format(hint=hint), style="dim"))
    return Group(*out)


def padded(heads: list[str], rows: list[list[str]], right: set[int] = frozenset(), styles: list[dict] | None = None):
    """A heading line, its rule and one line per row, each column padded by the width a terminal gives its
    texts (terminal_width), so a Bengali heading or cell ends above its rule (rich mis-measures Bengali: see
    measured_right); no vertical borders. styles: per row, {column: rich style}."""
    from rich.text import Text

    widths = [max(terminal_width(row[n]) for row in [heads, *rows]) for n in range(len(heads))]

    def line(values, style=None) -> Text:
        text = Text(" ")
        for n, (value, width) in enumerate(zip(values, widths)):
            pad = " " * (width - terminal_width(value))
            text.append(" ")
            if n in right:
                text.append(pad)
            text.append(value, style="bold" if style is None else style.get(n, ""))
            if n not in right:
                text.append(pad)
            text.append(" ")
        return text

    total = sum(widths) + 2 * len(widths) + 1
    return [line(heads), Text(" " + "─" * (total - 1)),
            *(line(values, (styles[n] if styles else {})) for n, values in enumerate(rows))]


def aligned_table(title: str, heads: list[str], rows: list[list[str]], right: set[int] = frozenset(),
                  caption: str = "", styles: list[dict] | None = None):
    """A plain table (padded) under its title, its caption below: for a language rich mis-measures.
    styles: per row, {column: rich style}."""
    from rich.console import Group
    from rich.text import Text

    out = [Text(title, style="italic"), *padded(heads, rows, right, styles)]
    if caption:
        out.append(Text(caption, style="dim italic"))
    return Group(*out)


def print_table(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(report))
    if report.broken:   # `kit check hardening`: the score is hardening's; a re-checked stage failing is said apart
        console.print(f"[red]{escape_markup(broken_line(report))}[/]")


def broken_line(report: Report) -> str:
    if len(report.broken) > 1:
        return _("Graded again, stages {broken} fail now; their points are not in this score.").format(
            broken=", ".join(report.broken))
    return _("Graded again, stage {broken} fails now; its points are not in this score.").format(
        broken=", ".join(report.broken))


def escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def to_junit(report: Report) -> str:
    """One testsuite per stage, one testcase per checkpoint; points ride along as properties."""
    suites = ET.Element("testsuites", name="channels-kit")
    total = failed = 0
    for result in report.stages:
        if not result.available:
            continue
        cases = [(name, None) for name in result.passed_checks] + [(f.test, f) for f in result.failures]
        suite = ET.SubElement(suites, "testsuite", name=result.id, tests=str(len(cases)),
                              failures=str(len(result.failures)), time=f"{result.seconds:.2f}")
        if report.advisory:   # no sandbox: the points are advice (kit/grading/report.py, Report.advisory)
            suite.set("advisory", "true")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=str(result.points))
        ET.SubElement(props, "property", name="max_points", value=str(result.max_points))
        ET.SubElement(props, "property", name="isolation", value=report.isolation)
        if result.recheck_of:   # graded again for a named stage: not in the report's score
            ET.SubElement(props, "property", name="recheck", value="true")
            ET.SubElement(props, "property", name="recheck_of", value=result.recheck_of)
        for name, failure in cases:
            case = ET.SubElement(suite, "testcase", classname=f"kit.{result.id}", name=as_data(name, 200))
            if failure is not None:
                found = ET.SubElement(case, "failure", message=failure.message)
                found.text = failure.hint
                if failure.translation:   # beside the English: same element, the language's own attributes
                    lang = failure.translation["lang"]
                    found.set(f"message_{lang}", failure.translation["message"])
                    found.set(f"hint_{lang}", failure.translation["hint"])
                    props = ET.SubElement(case, "properties")
                    for key in ("lang", "message", "hint"):
                        ET.SubElement(props, "property", name=f"translation.{key}", value=failure.translation[key])
        total += len(cases)
        failed += len(result.failures)
    if report.advisory:
        suites.set("advisory", "true")
    suites.set("tests", str(total))
    suites.set("failures", str(failed))
    return ET.tostring(suites, encoding="unicode")
