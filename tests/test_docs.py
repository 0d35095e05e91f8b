"""The README's facts come from the catalogue, and it names no path of any one machine."""
import re

from conftest import KIT_ROOT, run_kit

from kit.course import catalogue


def test_readme_stage_table_matches_catalogue():
    readme = (KIT_ROOT / "README.md").read_text()
    block = re.search(r"<!-- stages:begin.*?-->\n(.*?)\n<!-- stages:end -->", readme, re.S)
    assert block, "README.md lost its stage table markers"
    assert block.group(1).strip() == catalogue.markdown_table(), "run `kit stages --markdown` and paste the table"


def test_readme_starts_with_the_two_commands():
    readme = (KIT_ROOT / "README.md").read_text()
    assert readme.index("make lab") < readme.index("## The stages")
    assert "make test" in readme


def test_every_stage_notebook_is_named_once():
    names = [stage.notebook for stage in catalogue.STAGES] + [catalogue.WELCOME_NOTEBOOK]
    assert len(names) == len(set(names))


def test_no_machine_paths_in_the_repo():
    import subprocess

    tracked = subprocess.run(["git", "-C", str(KIT_ROOT), "ls-files"], capture_output=True, text=True).stdout.split()
    machine_path = re.compile("/" + "work/|/" + "root/|/home/[a-z]+/")
    offenders = []
    for name in tracked:
        path = KIT_ROOT / name
        if path.suffix in {".png", ".jpg", ".pyc"} or not path.is_file():
            continue
        if machine_path.search(path.read_text(errors="ignore")):
            offenders.append(name)
    assert not offenders, f"files naming a path of this machine: {offenders}"


def test_architecture_page_names_only_modules_that_exist():
    """docs/architecture.md stays true: every module it names (kit/x.py, exercises/x.py, kit.x, ...) is there."""
    page = (KIT_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = set(re.findall(r"\b((?:kit|exercises|tests|benchmarks)/[\w/]+\.py)\b", page))
    assert len(paths) > 20, "the page should name the modules it describes"
    missing = sorted(name for name in paths if not (KIT_ROOT / name).is_file())
    for dotted in set(re.findall(r"\bkit(?:\.\w+)+", page)):   # kit.layer, kit.layer.module, kit.layer.module.name
        where = KIT_ROOT / "kit"
        for part in dotted.split(".")[1:]:
            if (where / f"{part}.py").is_file():
                break
            where = where / part
            if not (where / "__init__.py").is_file():
                missing.append(dotted)
                break
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_readme_time_limits_are_the_graders():
    """The README quotes the limits per check and per stage; their one home is kit/grading/limits.py."""
    from kit.grading import limits

    readme = " ".join((KIT_ROOT / "README.md").read_text(encoding="utf-8").split())
    per_check = re.findall(r"KIT_TEST_TIME_LIMIT`(?:, default | \()(\d+) s", readme)
    per_stage = re.findall(r"KIT_STAGE_TIME_LIMIT`(?:, default | \()(\d+) s", readme)
    answers = re.findall(r"No answer within (\d+) s", readme)
    assert per_check and per_stage and answers, "the README should say how long a check and a stage may take"
    assert set(per_check + answers) == {str(limits.DEFAULT_TEST_TIME_LIMIT)}, per_check + answers
    assert set(per_stage) == {str(limits.DEFAULT_STAGE_TIME_LIMIT)}, per_stage
    ini = (KIT_ROOT / "exercises" / "pytest.ini").read_text(encoding="utf-8")
    assert not re.search(r"^\s*timeout\s*=", ini, re.M), "the limit per check lives in kit/grading/limits.py alone"


def test_bengali_readme_stage_table_matches_catalogue():
    readme = (KIT_ROOT / "README.bn.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- stages-bn:begin.*?-->\n(.*?)\n<!-- stages-bn:end -->", readme, re.S)
    assert block, "README.bn.md has no stages-bn block"
    made = run_kit("stages", "--markdown", "--lang", "bn").stdout.strip()
    assert "ধাপ" in made and block.group(1).strip() == made, "run `kit stages --markdown --lang bn` and paste the table"
