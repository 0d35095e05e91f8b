"""`kit` end to end: exit codes, the JSON and JUnit reports, serve, solve and reset."""
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import KIT_ROOT, run_kit

from kit.course import catalogue
from kit.isolation.procs import kit_processes, wait_until


def test_path_that_does_not_exist_is_a_usage_error(tmp_path):
    done = run_kit("check", "--project", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_folder_that_is_not_a_tree_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    done = run_kit("check", "--project", str(tmp_path))
    assert done.returncode == 2
    assert "manage.py" in done.stderr and "Traceback" not in done.stderr


def test_unknown_stage_is_a_usage_error(solved_tree):
    done = run_kit("check", "websockets", "--project", str(solved_tree))
    assert done.returncode == 2
    assert "settings" in done.stderr  # lists the known stages


def test_no_command_is_a_usage_error():
    assert run_kit().returncode == 2


def test_json_report_follows_the_contract(solved_tree, tmp_path):
    junit = tmp_path / "report.xml"
    done = run_kit("check", "settings", "consumer", "--project", str(solved_tree), "--json", "-",
                   "--junit", str(junit))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) >= {"project", "score", "max_score", "stages"}
    assert report["project"] == str(solved_tree.resolve())
    assert [s["id"] for s in report["stages"]] == ["settings", "consumer"]
    for entry in report["stages"]:
        assert isinstance(entry["passed"], bool)
        assert entry["points"] == entry["max_points"] == catalogue.get(entry["id"]).points
        assert entry["failures"] == []
    assert report["score"] == report["max_score"] == 30

    suites = ET.parse(junit).getroot()
    assert suites.get("failures") == "0" and int(suites.get("tests")) >= 10
    for suite in suites:
        points = {p.get("name"): int(p.get("value")) for p in suite.find("properties") if p.get("name") != "isolation"}
        assert points == {"points": catalogue.get(suite.get("name")).points,
                          "max_points": catalogue.get(suite.get("name")).points}


def test_failures_carry_test_message_and_hint(starter_tree, tmp_path):
    out = tmp_path / "report.json"
    done = run_kit("check", "routing", "--project", str(starter_tree), "--json", str(out))
    assert done.returncode == 1
    assert "routing" in done.stdout  # the table is printed as well
    failure = json.loads(out.read_text())["stages"][0]["failures"][0]
    assert set(failure) == {"test", "message", "hint"} and all(failure.values())


def test_serve_prints_url_serves_and_stops_on_ctrl_c(solved_tree):
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "kit", "serve", "--project", str(solved_tree)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=KIT_ROOT)
    try:
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first, first
        url = first.split("at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        assert kit_processes(str(solved_tree))
        proc.send_signal(signal.SIGINT)
        said, _ = proc.communicate(timeout=90)   # read as it stops: a full pipe would hold it up
        assert proc.returncode == 0, said[-2000:]
    finally:
        proc.kill()
    assert wait_until(lambda: not kit_processes(str(solved_tree)), 10)


def test_serve_on_a_port_in_use_says_so(solved_tree):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run_kit("serve", "--project", str(solved_tree), "--port", str(busy.getsockname()[1]), timeout=60)
    assert done.returncode == 1
    assert "already in use" in done.stderr


@pytest.fixture
def kit_project(starter_tree):
    return {"KIT_PROJECT": str(starter_tree)}, starter_tree


def test_solve_copies_the_finished_files_and_keeps_a_backup(kit_project):
    env, tree = kit_project
    before = (tree / "myapp/routing.py").read_text()
    done = run_kit("solve", "routing", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tree / "myapp/routing.py").read_text() == (KIT_ROOT / "solutions/myapp/routing.py").read_text()
    backups = list((tree / ".kit-backups").rglob("routing.py"))
    assert len(backups) == 1 and backups[0].read_text() == before


def test_solve_never_overwrites_edited_shared_file_without_force(kit_project):
    from kit.course.files import solution_text

    env, tree = kit_project
    settings = tree / "myproject/settings.py"
    settings.write_text(settings.read_text() + "\nREDIS_URL = None  # my own work for another stage\n")
    done = run_kit("solve", "settings", env=env)
    assert done.returncode == 1
    assert "left alone" in done.stdout and "--force" in done.stdout
    assert settings.read_text().endswith("# my own work for another stage\n")
    done = run_kit("solve", "settings", "--force", env=env)
    assert done.returncode == 0
    assert settings.read_text() == solution_text("myproject/settings.py", catalogue.get("settings"))
    saved = list((tree / ".kit-backups").rglob("settings.py"))
    assert saved and saved[0].read_text().endswith("# my own work for another stage\n")


def test_reset_restores_the_starter(kit_project):
    env, tree = kit_project
    starter = (tree / "myapp/routing.py").read_text()
    assert run_kit("solve", "routing", env=env).returncode == 0
    assert run_kit("reset", "routing", env=env).returncode == 0
    assert (tree / "myapp/routing.py").read_text() == starter


def test_kit_runs_as_module_and_console_script():
    script = os.path.join(os.path.dirname(sys.executable), "kit")
    assert subprocess.run([script, "stages"], capture_output=True, timeout=60).returncode == 0
    assert run_kit("stages", "--markdown").stdout.strip() == catalogue.markdown_table()
