"""Show a grading report: a rich table for people, JSON and JUnit XML for machines."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from rich.console import Console
from rich.table import Table

from .grader import Report
from .i18n import _

VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "not yet available": "dim"}


def table(report: Report) -> Table:
    isolation = report.isolation.split(":")[0] or "unknown"
    grid = Table(title=_("Channels Kit: {project}").format(project=report.project),
                 caption=_("score {score} / {max_score}   (isolation: {isolation})").format(
                     score=report.score, max_score=report.max_score, isolation=isolation), show_lines=False)
    grid.add_column("#", justify="right")
    grid.add_column(_("stage"))
    grid.add_column(_("points"), justify="right")
    grid.add_column(_("verdict"))
    grid.add_column(_("what to fix next"), overflow="fold", ratio=1)
    from .catalogue import get

    for result in report.stages:
        advice = ""
        if result.failures:
            first = result.failures[0]
            advice = f"{first.message}\n[dim]hint: {first.hint}[/dim]" if first.hint else first.message
        grid.add_row(str(get(result.id).number), result.id,
                     f"{result.points}/{result.max_points}" if result.available else "-",
                     f"[{VERDICT_STYLE[result.verdict]}]{result.verdict}[/]", advice)
    return grid


def print_table(report: Report, console: Console | None = None) -> None:
    (console or Console()).print(table(report))


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
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="points", value=str(result.points))
        ET.SubElement(props, "property", name="max_points", value=str(result.max_points))
        ET.SubElement(props, "property", name="isolation", value=report.isolation)
        for name, failure in cases:
            case = ET.SubElement(suite, "testcase", classname=f"kit.{result.id}", name=name)
            if failure is not None:
                ET.SubElement(case, "failure", message=failure.message).text = failure.hint
        total += len(cases)
        failed += len(result.failures)
    suites.set("tests", str(total))
    suites.set("failures", str(failed))
    return ET.tostring(suites, encoding="unicode")
