"""Everything the kit says, in Bengali when Bengali is chosen, from one English source (kit/course/i18n.py).

The catalogue is complete and current, every placeholder survives its
translation, a marked message (T) is English and keeps its template, and
`kit check --lang bn` on the starter grades exactly as English does, with a
Bengali translation beside each English message.
"""
from __future__ import annotations

import copy
import json
import os
import pickle
import re
import subprocess
import sys
from collections import Counter

import polib
import pytest

from kit.course import catalogue, i18n
from kit.course.i18n import T, join, lower_first

ROOT = catalogue.KIT_ROOT
POT = i18n.LOCALE_DIR / "kit.pot"
PO = i18n.LOCALE_DIR / "bn" / "LC_MESSAGES" / "kit.po"
BENGALI = re.compile(r"[\u0980-\u09FF]")
# The stages whose checks are marked: every stage's (a new stage's checks join when they are marked).
MARKED_STAGES = ("settings", "asgi", "consumer", "routing", "frontend", "daphne", "redis", "hardening", "push",
                 "users", "history", "testing")


def bengali(text: str) -> bool:
    return bool(BENGALI.search(text))


# -- the catalogue ----------------------------------------------------------------------------
def test_kit_pot_is_what_babel_extracts_today(tmp_path):
    """Regenerating locale/kit.pot with the command in kit/course/i18n.py changes nothing."""
    from babel.messages.frontend import CommandLineInterface

    fresh = tmp_path / "kit.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(fresh),
                                "--no-location", "--omit-header", str(ROOT)])
    assert fresh.read_text(encoding="utf-8") == POT.read_text(encoding="utf-8"), (
        "locale/kit.pot is stale: run `pybabel extract -F babel.cfg -o locale/kit.pot --no-location "
        "--omit-header .`, then `pybabel update` and translate (kit/course/i18n.py)")


def test_kit_po_has_no_missing_fuzzy_or_obsolete_entry():
    template = {e.msgid for e in polib.pofile(str(POT))}
    po = polib.pofile(str(PO))
    live = {e.msgid: e for e in po if not e.obsolete}
    assert set(live) == template, f"missing: {sorted(template - set(live))[:5]}; stale: {sorted(set(live) - template)[:5]}"
    assert not [e.msgid for e in live.values() if not e.msgstr], "untranslated entries"
    assert not [e.msgid for e in live.values() if "fuzzy" in e.flags], "fuzzy entries"
    assert not po.obsolete_entries(), "obsolete entries: run pybabel update with --ignore-obsolete"
    assert len(live) > 300


FIELD = re.compile(r"\{\{|\}\}|\{[^{}]*\}")   # {name}, {limit:.0f}, literal braces {{ }} and {...}
CODE = re.compile(r"`[^`]+`")


@pytest.mark.parametrize("entry", [e for e in polib.pofile(str(PO)) if not e.obsolete and e.msgid],
                         ids=lambda e: e.msgid[:40])
def test_every_placeholder_and_code_span_survives(entry):
    assert Counter(FIELD.findall(entry.msgid)) == Counter(FIELD.findall(entry.msgstr)), \
        f"{entry.msgid!r}: a placeholder or brace was dropped or added"
    assert Counter(CODE.findall(entry.msgid)) == Counter(CODE.findall(entry.msgstr)), \
        f"{entry.msgid!r}: an inline code span was changed"


def test_every_template_formats_in_bengali():
    """A T() template's translation takes the same values (no KeyError, no format-spec error)."""
    tr = i18n.translation("bn")
    for entry in polib.pofile(str(POT)):
        names = {m.group(1) for m in re.finditer(r"(?<!\{)\{(\w+)(?::[^{}]*)?\}(?!\})", entry.msgid)}
        if not names:
            continue
        values = {name: 1.0 for name in names}
        try:
            entry.msgid.format(**values)
        except (KeyError, IndexError, ValueError):
            continue   # a static hint whose braces are code ({message: text}), never formatted
        assert tr.gettext(entry.msgid).format(**values), entry.msgid


def test_developer_terms_stay_as_they_are():
    """The glossary's kept names stay in Latin script wherever the English has them."""
    for entry in polib.pofile(str(PO)):
        for term in ("WebSocket", "consumer", "channel layer", "daphne", "Redis", "REDIS_URL"):
            if term in entry.msgid:
                assert term in entry.msgstr, f"{entry.msgid!r}: {term!r} must stay as it is"


# -- the marked message -------------------------------------------------------------------------
def test_T_is_the_english_sentence_and_keeps_its_template(monkeypatch):
    monkeypatch.setenv("KIT_LANG", "en")
    said = T("A socket in room '{room}' waited {wait:.0f} s for {what} and got nothing.", room="lobby", wait=5.0,
             what=T("its own message back"))
    assert said == "A socket in room 'lobby' waited 5 s for its own message back and got nothing."
    assert isinstance(said, str) and str(said) == said
    assert json.dumps({"message": said}) == json.dumps({"message": str(said)})
    again = i18n.from_data(json.loads(json.dumps(said.data())))
    assert again == said and again.data() == said.data()
    for copied in (copy.deepcopy(said), pickle.loads(pickle.dumps(said))):
        assert copied == said and copied.data() == said.data()
    bn = said.translate("bn")
    assert "'lobby'" in bn and "5" in bn and "নিজের মেসেজটি ফেরত" in bn and bengali(bn)
    assert said.translate("en") == said


def test_values_are_never_translated_only_nested_T():
    said = T("Importing {module} failed", module="Loading your project")   # a plain value, even an English one
    assert said.translate("bn") == "Loading your project import করা যায়নি"
    nested = T("Importing {module} failed", module=T("Loading your project"))
    assert nested.translate("bn") == "আপনার প্রজেক্ট লোড হচ্ছিল import করা যায়নি"


def test_literal_braces_and_joined_sentences():
    literal = T("The server sent a binary frame; send text: self.send(text_data=json.dumps({...})).")
    assert "{...}" in literal and "{...}" in literal.translate("bn")
    escaped = T("The server sent {text}, which is not JSON: send json.dumps({{'message': ...}}).", text="'x'")
    assert "json.dumps({'message': ...})" in escaped and "json.dumps({'message': ...})" in escaped.translate("bn")
    both = join([T("No checkpoint ran."), "plain tail"])
    assert both == "No checkpoint ran. plain tail"
    assert i18n.from_data(both.data()).translate("bn").endswith(" plain tail")
    assert lower_first(T("Asking what the host noticed")) == "asking what the host noticed"


def test_revive_accepts_only_the_same_english():
    said = T("Importing {module} failed", module="myapp.routing")
    assert i18n.revive(str(said), said.data()).data() == said.data()
    assert not isinstance(i18n.revive("something else", said.data()), T)
    assert i18n.revive("text", {"template": "{missing}"}) == "text"


def test_packed_dicts_cross_a_process_boundary():
    message = {"error": T("Importing {module} failed", module="x"), "clues": [T("Asking what the host noticed"), "plain"],
               "id": 3}
    back = i18n.unpack(json.loads(json.dumps(i18n.pack(message))))
    assert back["error"].data() == message["error"].data() and back["clues"][0].template == "Asking what the host noticed"
    assert back["clues"][1] == "plain" and back["id"] == 3 and "i18n" not in back


def test_static_hints_are_translated_at_display_time():
    from kit.course.hints import LADDERS

    first = LADDERS["consumer"]["test_sender_gets_own_message"][0]
    assert bengali(i18n.translated(first, "bn")) and i18n.translated(first, "en") == first
    assert bengali(i18n.translated(catalogue.get("settings").hints[0], "bn"))


def test_the_explainer_says_a_place_in_bengali(tmp_path):
    from kit.grading.explain import Places

    (tmp_path / "myapp").mkdir()
    source = tmp_path / "myapp" / "consumers.py"
    source.write_text("def f():\n    raise ValueError('boom')\n")
    namespace = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    try:
        namespace["f"]()
    except ValueError as exc:
        said = Places(tmp_path).explain(exc, T("Loading your project"))
    assert said == "Loading your project: ValueError: boom at myapp/consumers.py, line 2 (in f)."
    bn = said.translate("bn")
    assert "ValueError: boom" in bn and "myapp/consumers.py, লাইন 2" in bn and bengali(bn)


# -- the CLI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["check"], ["status"], ["hint"], ["serve"], ["solve", "settings"], ["reset", "settings"],
                                  ["grade-all", "DIR"], ["release", "OUT"]])
def test_learner_commands_take_lang(argv):
    from kit.commands.cli import build_parser

    assert build_parser().parse_args([*argv, "--lang", "bn"]).lang == "bn"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--lang", "xx"])


def test_an_unknown_stage_is_said_in_bengali():
    with pytest.raises(catalogue.UnknownStage) as caught:
        catalogue.get("nosuch")
    said = caught.value.args[0]
    assert said == str(caught.value) and said.startswith("unknown stage 'nosuch'; the stages are: settings")
    assert bengali(said.translate("bn")) and "'nosuch'" in said.translate("bn") and "settings" in said.translate("bn")


def test_classroom_keeps_english_and_adds_the_translation_below(monkeypatch):
    from kit.output import classroom
    from kit.grading.report import Failure, StageResult

    failure = Failure("test_login_page_answers", T("GET /accounts/login/ answered {status} in the browser. {clue}",
                                                   status=500, clue=""), "There is no login page yet, or it shows "
                                                                         "no form to log in with.")
    failed = StageResult(id="users", title="Who said it", passed=False, points=0, max_points=10, available=True,
                         failures=[failure])
    monkeypatch.setenv("KIT_LANG", "en")
    english = classroom._stage_test(failed)["message"]
    assert english.startswith("test_login_page_answers: GET /accounts/login/ answered 500") and not bengali(english)
    monkeypatch.setenv("KIT_LANG", "bn")
    both = classroom._stage_test(failed)["message"]
    assert both.startswith(english + "\n\n") and "হিন্ট:" in both and bengali(both)


def test_grade_all_speaks_bengali_but_its_csv_and_json_stay_english(tmp_path, monkeypatch):
    from rich.console import Console

    from kit.class_grading import gradeall

    monkeypatch.setenv("KIT_LANG", "bn")
    (tmp_path / "class" / "erin").mkdir(parents=True)
    subs = gradeall.find_submissions(tmp_path / "class")
    assert subs[0].error.startswith("No project tree found") and bengali(i18n.translated(subs[0].error))
    gradeall.write_csv(tmp_path / "grades.csv", subs, ["settings"])
    assert "No project tree found" in (tmp_path / "grades.csv").read_text() and not bengali(
        (tmp_path / "grades.csv").read_text())
    console = Console(width=80, record=True, color_system=None, file=open(os.devnull, "w"))
    for grid in gradeall.summary_tables(subs, ["settings"]):
        console.print(grid)
    shown = console.export_text()
    assert "প্রতিটি ধাপে পাসের হার" in shown
    from kit.output.render import terminal_width   # each Bengali heading ends above its rule (rich mis-measures it)

    lines = shown.splitlines()
    for n, line in enumerate(lines[1:], 1):
        if line.strip().startswith("─"):
            assert terminal_width(lines[n - 1].rstrip()) <= terminal_width(line.rstrip()), lines[n - 1]
        boxed = [line for line in lines[n - 1:n + 1] if line.strip()[:1] in "┏┃┡│└"]   # a bordered table
        assert len({terminal_width(line.rstrip()) for line in boxed}) <= 1, boxed
    assert "─" in shown
    with pytest.raises(gradeall.GradeAllError) as caught:
        gradeall.find_submissions(tmp_path / "nowhere")
    assert bengali(i18n.translated(str(caught.value)))


# -- grading the starter in both languages ----------------------------------------------------------
PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


def _kit_check(*extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KIT_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.pop("KIT_PROJECT", None)
    done = subprocess.run([sys.executable, "-m", "kit", "check", "--project", str(ROOT / "project"), "--json", "-",
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def reports():
    return _kit_check(), _kit_check("--lang", "bn")


def _same(text: str) -> str:
    return PORT.sub("127.0.0.1:PORT", text)


def test_bengali_grades_the_starter_exactly_as_english(reports):
    english, bengali_ = reports
    assert (english["score"], english["max_score"]) == (bengali_["score"], bengali_["max_score"])
    assert [s["id"] for s in english["stages"]] == [s["id"] for s in bengali_["stages"]]
    for en, bn in zip(english["stages"], bengali_["stages"]):
        assert (en["passed"], en["points"], en["max_points"], en["available"]) == \
            (bn["passed"], bn["points"], bn["max_points"], bn["available"]), en["id"]
        assert [(f["test"], _same(f["message"]), f["hint"]) for f in en["failures"]] == \
            [(f["test"], _same(f["message"]), f["hint"]) for f in bn["failures"]], en["id"]
        assert all("translation" not in f for f in en["failures"]), "English reports have no translation"


def test_each_bengali_failure_carries_its_translation(reports):
    _english, report = reports
    failures = [(s["id"], f) for s in report["stages"] for f in s["failures"]]
    assert failures
    for stage_id, failure in failures:
        assert set(failure) == {"test", "message", "hint", "translation"}
        assert failure["translation"]["lang"] == "bn"
        assert set(failure["translation"]) == {"lang", "message", "hint"}
        if stage_id in MARKED_STAGES:
            assert bengali(failure["translation"]["message"]), failure["message"]
            assert bengali(failure["translation"]["hint"]), failure["hint"]
            assert not bengali(failure["message"]) and not bengali(failure["hint"])


def _report(data: dict):
    from kit.grading.report import Failure, Report, StageResult

    stages = []
    for s in data["stages"]:
        failures = [Failure(f["test"], f["message"], f["hint"], translation=f.get("translation")) for f in s["failures"]]
        stages.append(StageResult(id=s["id"], title=s["title"], passed=s["passed"], points=s["points"],
                                  max_points=s["max_points"], available=s["available"], failures=failures))
    return Report(project=data["project"], stages=stages, isolation=data["isolation"])


def test_each_stages_pass_shows_in_bengali(monkeypatch):
    """What a Bengali lesson's checkpoint cell shows once its stage passes, for every stage (the English
    lessons' runs prove each passes on its tree; tests/test_notebooks.py runs one in a Bengali kernel)."""
    from kit.grading.report import Report, StageResult
    from kit.notebook import CheckResult

    monkeypatch.setenv("KIT_LANG", "bn")
    for stage in catalogue.STAGES:
        passed = StageResult(id=stage.id, title=stage.title, passed=True, points=stage.points,
                             max_points=stage.points, available=stage.available)
        result = CheckResult(Report(project="tree", stages=[passed], isolation="bubblewrap"))
        result.stages = [stage.id]
        for text in (repr(result), result._repr_html_()):
            assert f"চেকপয়েন্ট {stage.id}: পাস" in text, f"{stage.id}: no pass in Bengali:\n{text}"


def test_each_stages_failure_shows_in_bengali_with_its_hint(reports, monkeypatch):
    """What a Bengali lesson's checkpoint cell shows on the starter, for every stage: the failure in
    Bengali, with its hint (tests/test_notebooks_starter.py runs one such cell in a real kernel)."""
    from kit.notebook import CheckResult

    monkeypatch.setenv("KIT_LANG", "bn")
    _english, data = reports
    for stage in data["stages"]:
        if not stage["available"]:
            continue
        result = CheckResult(_report(dict(data, stages=[stage])))
        result.stages = [stage["id"]]
        for text in (repr(result), result._repr_html_()):
            assert "ফেল" in text and "হিন্ট" in text, f"{stage['id']}: no failure or hint in Bengali:\n{text}"


def test_junit_keeps_english_and_adds_the_translation(reports):
    import xml.etree.ElementTree as ET

    from kit.output.render import to_junit

    tree = ET.fromstring(to_junit(_report(reports[1])))
    failure = tree.find(".//testcase/failure")
    assert not bengali(failure.get("message")) and bengali(failure.get("message_bn"))
    props = {p.get("name"): p.get("value") for p in tree.find(".//testcase/properties")}
    assert props["translation.lang"] == "bn" and bengali(props["translation.message"])


# -- the table ---------------------------------------------------------------------------------------
def _shown(report, lang: str, monkeypatch) -> str:
    from rich.console import Console

    from kit.output.render import table

    monkeypatch.setenv("KIT_LANG", lang)
    console = Console(width=80, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(table(report))
    return console.export_text()


def test_rich_mismeasures_bengali_so_it_stays_out_of_borders(reports, monkeypatch):
    """rich gives Bengali vowel signs and conjuncts no width where terminals (wcwidth) give them a cell: a border
    after Bengali text would slip. So Bengali sentences go below the table, and the table has no vertical
    borders for its Bengali headings to push."""
    from rich.cells import cell_len
    from wcwidth import wcswidth

    from kit.output.render import measured_right

    assert cell_len("পয়েন্ট") != wcswidth("পয়েন্ট") and not measured_right("পয়েন্ট")
    report = _report(reports[1])
    text = _shown(report, "bn", monkeypatch)
    lines = text.splitlines()
    assert "এরপর কী ঠিক করবেন" in text and "হিন্ট:" in text
    assert "আইসোলেশন:" in text and "isolation:" not in text
    for line in lines:
        if bengali(line):
            assert not re.search(r"[│┃║|]", line), f"Bengali inside a table border: {line!r}"
    first = report.stages[0].failures[0].translation["message"]
    assert any(first[:30] in line for line in lines), "the first stage's Bengali message is shown"


def test_english_table_is_unchanged(reports, monkeypatch):
    text = _shown(_report(reports[0]), "en", monkeypatch)
    assert "what to fix next" in text and "│" in text and "hint:" in text and not bengali(text)


def test_data_from_another_process_may_only_name_the_kits_own_templates():
    """The host runs the learner's code: a template it sends that the kit does not have is never formatted."""
    said = T("Importing {module} failed", module="myapp.routing")
    assert i18n.known_template(said.data())
    forged = {"template": "{module:>999999999}", "params": {"module": "x"}}
    assert not i18n.known_template(forged) and i18n.revive("x", forged) == "x"
    nested = {"template": "Importing {module} failed", "params": {"module": {"t": forged}}}
    assert not i18n.known_template(nested)
    assert i18n.unpack({"error": "x", "i18n": {"error": forged}}) == {"error": "x"}


def test_the_host_takes_the_checks_templates_as_they_come():
    """The host's sandbox may not see locale/: requests from the (trusted) checks are revived without it."""
    doing = T("Connecting to {path} crashed the consumer", path="/ws/chat/lobby/")
    request = json.loads(json.dumps(i18n.pack({"op": "connect", "doing": doing})))
    saved, i18n._known = i18n._known, set()   # as in a sandbox without locale/
    try:
        assert i18n.unpack(dict(request), known_only=False)["doing"].data() == doing.data()
        assert not isinstance(i18n.unpack(dict(request))["doing"], T)
    finally:
        i18n._known = saved


# -- Bengali details seen in JupyterLab (issue 24) ------------------------------------------------------
def test_bengali_headings_end_above_their_rule(reports, monkeypatch):
    """rich measures 'এরপর কী ঠিক করবেন' three cells short: its column is as wide as a terminal shows it."""
    from wcwidth import wcswidth

    lines = _shown(_report(reports[1]), "bn", monkeypatch).splitlines()
    head = next(n for n, line in enumerate(lines) if "এরপর কী ঠিক করবেন" in line)
    rule = lines[head + 1]
    assert set(rule.strip()) <= set("━─═ "), rule
    assert wcswidth(lines[head].rstrip()) <= wcswidth(rule.rstrip()), (lines[head], rule)


def test_stage_numbers_in_bengali_prose_use_bengali_digits():
    """One numeral style: the lessons say ধাপ ১০, and so does the kit (locale/bn/glossary.md)."""
    assert i18n.numeral(10, "bn") == "১০" and i18n.numeral(10, "en") == "10"
    said = i18n.gettext_in("bn", "Stage {number} {id}, check {check}: {message}").format(
        number=i18n.numeral(10, "bn"), id="users", check="test_x", message="...")
    assert "১০" in said and not re.search(r"ধাপ [0-9]", said), said


def test_a_described_consumer_is_never_glued_to_a_case_ending():
    """The testing stage's {described} is a whole Bengali clause ending in a verb ('... শোনে'): a case
    ending glued to it ('শোনে-এ') garbles the sentence, so it stands apart."""
    catalogue_bn = polib.pofile(str(i18n.LOCALE_DIR / "bn" / "LC_MESSAGES" / "kit.po"))
    glued = [e.msgid for e in catalogue_bn if "{described}" in e.msgid and re.search(r"\{described\}-", e.msgstr)]
    assert not glued, glued
