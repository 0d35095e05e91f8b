"""report.html: the class's page, with the pass rate per stage and the score histogram."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from kit.course import catalogue
from kit.class_grading.classfolder import Submission
from kit.course.i18n import N_, T, _, language, numeral
from kit.class_grading.grades import (atomic_write, BAND_LABELS, cell, clean, distribution, learner_max, Meta, NOT_GRADED, reasons,
                     short, stage_summary, status_line)


# -- the HTML page ----------------------------------------------------------------------------------
def chart_png(submissions: list[Submission], stage_ids: list[str]) -> bytes:
    """Pass rate per stage above the score histogram, 800 px wide, as PNG bytes (no display needed)."""
    from matplotlib.figure import Figure

    rows = stage_summary(submissions, stage_ids)
    dist = distribution(submissions, stage_ids)
    figure = Figure(figsize=(8, 5.6), dpi=100, layout="constrained")
    rates, scores = figure.subplots(2, 1)
    rates.bar(range(len(rows)), [100 * r["rate"] for r in rows], color="#2a9d8f")
    rates.set_xticks(range(len(rows)), [r["stage"] for r in rows], rotation=40, ha="right", fontsize=9)
    for number, row in enumerate(rows):
        if not row["learners"]:
            rates.text(number, 4, "not graded", rotation=90, ha="center", va="bottom", fontsize=8, color="#555")
    rates.set_ylim(0, 100)
    rates.set_ylabel("learners passing (%)")
    rates.set_title("Pass rate per stage (of the learners it was graded for)")
    scores.bar(range(len(BAND_LABELS)), dist["bands"], color="#e76f51")
    scores.set_xticks(range(len(BAND_LABELS)), BAND_LABELS, fontsize=9)
    scores.set_ylabel("learners")
    scores.set_title(f"Score distribution ({dist['learners']} learner(s) with a tree)")
    scores.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


SCRIPT = """
const table = document.getElementById('learners');
const rows = () => Array.from(table.tBodies[0].rows);
document.getElementById('filter').addEventListener('input', e => {
  const want = e.target.value.toLowerCase();
  rows().forEach(r => { r.hidden = want && !r.textContent.toLowerCase().includes(want); });
});
table.tHead.querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
  const down = th.dataset.dir !== 'down'; th.dataset.dir = down ? 'down' : 'up';
  const key = r => { const t = r.cells[i].dataset.v ?? r.cells[i].textContent; const n = parseFloat(t);
                     return isNaN(n) ? t.toLowerCase() : n; };
  rows().sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1))
        .forEach(r => table.tBodies[0].appendChild(r));
}));
"""


def write_html(path: Path, meta: Meta, submissions: list[Submission], *, chart: bool = True) -> None:
    esc = html.escape   # learner folder names and messages are untrusted text
    stage_ids = meta.stages
    dist = distribution(submissions, stage_ids)
    heads = {name: esc(_(name)) for name in (N_("stage"), N_("title"), N_("points"), N_("passed"), N_("rate"),
                                             N_("learner"), N_("why"), N_("total"), N_("most common failure"))}
    stage_rows = "".join(
        f"<tr><td>{catalogue.get(r['stage']).number}</td><td>{esc(r['stage'])}</td><td>{esc(_(r['title']))}</td>"
        f"<td>{r['points']}</td><td>{r['passed']}/{r['learners']}"
        + (" <small>(" + esc(_("{count} not graded").format(count=numeral(r["not_graded"]))) + ")</small>"
           if r["not_graded"] else "")
        + f"</td><td>{format(r['rate'], '.0%') if r['learners'] else '-'}</td><td>{esc(r['common_failure'])}"
        + (f" <small>(×{r['common_count']})</small>" if r["common_count"] else "") + "</td></tr>"
        for r in stage_summary(submissions, stage_ids))
    learner_rows = []
    for sub in submissions:
        cells = []
        for stage_id in stage_ids:
            shown = cell(sub, stage_id)
            result = sub.result(stage_id)
            kind = ("ng" if shown == NOT_GRADED else "pass" if result is not None and result.passed else "fail")
            cells.append(f'<td class="{kind} n" data-v="{-1 if kind == "ng" else esc(shown)}">'
                         f'{esc(_(NOT_GRADED) if kind == "ng" else shown)}</td>')
        why = "".join(f"<li>{('<b>' + esc(stage) + '</b>: ') if stage else ''}{esc(short(text, 400))}</li>"
                      for stage, text in reasons(sub, stage_ids, language()))
        counted = "" if sub.counted else ' class="uncounted"'
        learner_rows.append(f'<tr{counted}><td class="text">{esc(clean(sub.learner))}</td>{"".join(cells)}'
                            f'<td class="n" data-v="{sub.total}"><b>{sub.total}</b>/{learner_max(sub, stage_ids)}</td>'
                            f'<td class="text"><ul>{why}</ul></td></tr>')
    title = esc(_("Channels Kit: class report"))
    summary = T("{directory}: {learners} learner(s) with a tree (of {folders} folder(s)); mean {mean:.1f}, median "
                "{median:g} of {max_score}; {full_marks} with full marks.", directory=meta.directory,
                learners=dist["learners"], folders=dist["folders"], mean=dist["mean"], median=dist["median"],
                max_score=dist["max_score"], full_marks=dist["full_marks"]).translate()
    facts = T("Kit {commit}; graded {started} to {updated}; isolation: {isolation}.", commit=meta.kit_commit,
              started=meta.started, updated=meta.updated, isolation=meta.isolation).translate()
    warnings = []
    if meta.status != "complete":
        warnings.append(T("Partial gradebook: {status}", status=status_line(meta)).translate())
    for stage_id, why in meta.machine_not_graded.items():
        warnings.append(T("Stage {stage} was not graded on this machine: {why}", stage=stage_id, why=why).translate())
    for orphan in meta.hidden_orphans:
        warnings.append(T("The hidden check {check} names no stage (name it test_<stage>_<what>.py); it was not "
                          "run.", check=orphan).translate())
    if not meta.isolation.startswith("bubblewrap"):
        warnings.append(_("Graded without a sandbox: these points are advisory."))
    warned = "".join(f'<p class="warn">{esc(w)}</p>' for w in warnings)
    image = ""
    if chart and any(s.counted for s in submissions):
        png = base64.b64encode(chart_png(submissions, stage_ids)).decode("ascii")
        alt = esc(_("Pass rate per stage and score distribution"))
        image = f'<img alt="{alt}" src="data:image/png;base64,{png}">'
    stage_heads = "".join(f'<th title="{esc(s)}">{catalogue.get(s).number}</th>' for s in stage_ids)
    words = {"rates": esc(_("Pass rate per stage")), "learners": esc(_("Learners")),
             "filter": esc(_("Filter learners (name, stage, reason)")),
             "sort": esc(_("Stages by number, as in the table above. Click a column's head to sort by it. Grey rows "
                           "(no project tree) are left out of the mean and median."))}
    page = f"""<!doctype html>
<html lang="{language()}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1em auto; max-width: 800px; padding: 0 8px; color: #222;
        font-size: 14px; }}
table {{ border-collapse: collapse; margin: .6em 0; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: .2em .35em; text-align: left; vertical-align: top; }}
td.text {{ overflow-wrap: anywhere; }} td.n {{ white-space: nowrap; }}
#learners th {{ cursor: pointer; font-size: 12px; }} #learners td {{ font-size: 12px; }}
#learners ul {{ margin: 0; padding-left: 1.1em; }}
td.pass {{ background: #d8f3dc; }} td.fail {{ background: #ffe5e0; }} td.ng {{ background: #eee; color: #555; }}
tr.uncounted td {{ color: #777; }} .warn {{ background: #fff3cd; padding: .4em; }}
img {{ width: 100%; height: auto; }} input {{ width: 100%; padding: .3em; box-sizing: border-box; }}
</style></head><body>
<h1>{title}</h1>
<p>{esc(summary)}</p>
<p><small>{esc(facts)}</small></p>
{warned}
{image}
<h2>{words["rates"]}</h2>
<table><thead><tr><th>#</th><th>{heads["stage"]}</th><th>{heads["title"]}</th><th>{heads["points"]}</th>\
<th>{heads["passed"]}</th><th>{heads["rate"]}</th><th>{heads["most common failure"]}</th></tr></thead>
<tbody>{stage_rows}</tbody></table>
<h2>{words["learners"]}</h2>
<p><input id="filter" type="search" placeholder="{words["filter"]}"></p>
<p><small>{words["sort"]}</small></p>
<table id="learners"><thead><tr><th>{heads["learner"]}</th>{stage_heads}<th>{heads["total"]}</th>\
<th>{heads["why"]}</th></tr></thead>
<tbody>{''.join(learner_rows)}</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
    atomic_write(path, page.encode("utf-8", "replace"))
