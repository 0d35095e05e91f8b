"""The class summary `grade-all` and `grade-merge` print: the pass rate per stage and the score bands."""
from __future__ import annotations

from rich.table import Table

from kit.course import catalogue
from kit.class_grading.classfolder import Submission
from kit.class_grading.grades import BAND_LABELS, MACHINE, NOT_GRADED, clean, distribution, stage_summary
from kit.course.i18n import N_, T, _, numeral

PASS_RATE = N_("Pass rate per stage")


def summary_tables(submissions: list[Submission], stage_ids: list[str]) -> tuple:
    """The pass rate per stage and the score bands, as rich tables; in a language rich mis-measures
    (Bengali: its vowel signs counted as zero width, so borders slip), as tables padded by the terminal's
    real width (kit/output/render.py, as `kit check` does)."""
    from kit.output.render import aligned_table, measured_right

    columns = (("#", "right"), (N_("stage"), "left"), (N_("points"), "right"), (N_("passed"), "right"),
               (N_("rate"), "right"), (NOT_GRADED, "right"))
    heads = [_(name) if name != "#" else name for name, _justify in columns]
    rows = [[str(catalogue.get(row["stage"]).number), row["stage"], str(row["points"]),
             f"{row['passed']}/{row['learners']}", f"{row['rate']:.0%}" if row["learners"] else "-",
             str(row["not_graded"] or "")] for row in stage_summary(submissions, stage_ids)]
    dist = distribution(submissions, stage_ids)
    scores_title = T("Scores out of {max_score}: {learners} learner(s)", max_score=numeral(dist["max_score"]),
                     learners=numeral(dist["learners"])).translate()
    band_heads = [_("band"), _("learners")]
    bands = [[label, str(count)] for label, count in zip(BAND_LABELS, dist["bands"])]
    caption = T("mean {mean:.1f}, median {median:g}, min {min}, max {max}, full marks {full_marks}",
                mean=dist["mean"], median=dist["median"], min=dist["min"], max=dist["max"],
                full_marks=dist["full_marks"]).translate()
    if dist["machine"]:
        caption += "; " + T("{count} learner(s) not graded because of the machine, left out",
                            count=numeral(len(dist["machine"]))).translate()
    if dist["no_tree"]:
        caption += "; " + T("{count} folder(s) with no project tree left out",
                            count=numeral(dist["no_tree"])).translate()
    if not all(measured_right(text) for text in (*heads, *band_heads, _(PASS_RATE), scores_title)):
        return (aligned_table(_(PASS_RATE), heads, rows, right={0, 2, 3, 4, 5}),
                aligned_table(scores_title, band_heads, bands, right={1}, caption=caption))
    stages = Table(title=_(PASS_RATE))
    for (name, justify), head in zip(columns, heads):
        stages.add_column(head, justify=justify)
    for row in rows:
        stages.add_row(*row)
    scores = Table(title=scores_title, min_width=60)
    scores.add_column(band_heads[0])
    scores.add_column(band_heads[1], justify="right")
    for band in bands:
        scores.add_row(*band)
    scores.caption = caption
    return stages, scores


def rerun_line(submissions: list[Submission]) -> str:
    """One sentence naming the learners the machine failed (kit/class_grading/grades.py, MACHINE), or ""."""
    names = [clean(s.learner) for s in submissions if s.status == MACHINE]
    if not names:
        return ""
    return T("Not graded because of the machine, never scored 0: {count} learner(s) ({names}).",
             count=numeral(len(names)), names=", ".join(names[:20]) + (" …" if len(names) > 20 else "")).translate()
