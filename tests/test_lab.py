"""`make lab` is the kit's main job: JupyterLab starts, serves the lessons, runs a kernel, and stops cleanly.

JupyterLab is started with the very command `make lab` runs (read from `make -n lab`),
plus --no-browser, a free port on 127.0.0.1 and a token.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import KIT_ROOT
from notebook_runner import lesson_notebooks

from kit.course import catalogue
from kit.isolation.procs import free_port, port_answers, spawn, stop_tree, wait_until

READY_TIMEOUT = 180  # JupyterLab's first start is slow on a busy 2-core machine; this only stops a hang


def make_lab_command(target: str = "lab") -> tuple[list[str], dict]:
    """The jupyter arguments and environment assignments of `make lab`'s recipe (or `make lab-bn`'s)."""
    if not shutil.which("make"):
        pytest.skip("`make` is not installed, so there is no `make lab` to imitate")
    done = subprocess.run(["make", "-s", "-n", target], cwd=KIT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"make -n {target} failed: {done.stderr}"
    commands = done.stdout.replace("\\\n", " ").splitlines()  # join the recipe's continued lines
    line = next((l for l in commands if " lab " in f"{l} " and "jupyter" in l), None)
    assert line, f"`make -n lab` runs no `jupyter lab`:\n{done.stdout}"
    tokens = shlex.split(line)
    at = next(i for i, t in enumerate(tokens) if t.endswith("jupyter") and tokens[i + 1] == "lab")
    env = {}
    for assignment in tokens[:at]:
        name, _, value = assignment.partition("=")
        env[name] = value.replace("$PATH", os.environ.get("PATH", ""))
    return tokens[at + 2:], env


def get(url: str, token: str | None = None, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return response.status, (json.loads(text) if text and text.lstrip()[:1] in "[{" else text)


def status_code(url: str, token: str | None = None) -> int:
    try:
        return get(url, token)[0]
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


# A login profile as Debian's /etc/profile is: it sets PATH from scratch, dropping .venv/bin.
HOSTILE_BASHRC = "PATH=/usr/local/bin:/usr/bin:/bin; export PATH\n"


@pytest.fixture
def lab(request, tmp_path):
    """JupyterLab as `make lab` starts it (`make lab-bn` with indirect parametrisation)."""
    target = getattr(request, "param", "lab")
    args, env_assignments = make_lab_command(target)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, **env_assignments)
    # Keep this run's runtime, config, workspace and home files out of the user's own folders.
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(HOSTILE_BASHRC)
    env["HOME"] = str(home)
    for name in ("KIT_PROJECT", "KIT_LANG"):
        env.pop(name, None)
    if "lesson_tree" in request.fixturenames:  # a test that runs a lesson names the tree its kernels grade
        env["KIT_PROJECT"] = str(request.getfixturevalue("lesson_tree"))
    # Our options go first: the recipe ends with the notebook to open, a positional argument.
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", *args]
    log = open(tmp_path / "lab.log", "wb")
    proc = spawn(cmd, cwd=KIT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    server = type("Lab", (), {"proc": proc, "base": base, "token": token, "args": args, "port": port, "target": target,
                              "log": lambda: (tmp_path / "lab.log").read_text(errors="replace")[-3000:]})
    try:
        ready = wait_until(lambda: proc.poll() is not None or status_code(f"{base}/api/status", token) == 200,
                           READY_TIMEOUT, interval=0.25)
        assert ready and proc.poll() is None, f"JupyterLab did not serve within {READY_TIMEOUT} s:\n{server.log()}"
        yield server
    finally:
        stop_tree(proc)
        log.close()


def test_make_lab_opens_the_welcome_notebook():
    args, _ = make_lab_command()
    assert f"notebooks/{catalogue.WELCOME_NOTEBOOK}" in args
    assert "--ServerApp.ip=127.0.0.1" in args, "make lab must listen on loopback only"


def test_lab_serves_the_lessons_runs_a_kernel_and_stops_cleanly(lab):
    # The token is really required.
    assert status_code(f"{lab.base}/api/contents/notebooks") in (401, 403)

    status, listing = get(f"{lab.base}/api/contents/notebooks", lab.token)
    served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
    expected = {path.name for path in lesson_notebooks()}
    assert expected <= served, f"JupyterLab does not list {sorted(expected - served)}"

    # Every lesson's links to project files resolve inside the lab's root, so they open in its editor.
    links = project_links()
    assert links, "the lessons link no project file"
    for target in sorted(links):
        code = status_code(f"{lab.base}/api/contents/{target}?content=0", lab.token)
        assert code == 200, f"a lesson links {target}, which JupyterLab cannot open (HTTP {code})"

    _, welcome = get(f"{lab.base}/api/contents/notebooks/{catalogue.WELCOME_NOTEBOOK}", lab.token)
    assert welcome["type"] == "notebook" and welcome["content"]["cells"]
    assert status_code(f"{lab.base}/lab", lab.token) == 200

    # A kernel started by the lab can import the kit, as every lesson's first cell does.
    _, kernel = get(f"{lab.base}/api/kernels", lab.token, method="POST", body={"name": "python3"})
    output = asyncio.run(run_in_kernel(lab, kernel["id"], "import kit.notebook; print('kit', kit.notebook.__name__)"))
    assert "kit kit.notebook" in output, f"the lab's kernel could not import the kit: {output!r}"
    children = psutil.Process(lab.proc.pid).children(recursive=True)
    assert children, "the kernel process was not found under JupyterLab"

    # Stop cleanly through the API, as File > Shut Down does.
    get(f"{lab.base}/api/shutdown", lab.token, method="POST")
    assert wait_until(lambda: lab.proc.poll() is not None, 60), "JupyterLab did not exit after /api/shutdown"
    assert lab.proc.returncode == 0, f"JupyterLab exited with {lab.proc.returncode}:\n{lab.log()}"
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"processes outlived JupyterLab: {[p.cmdline()[:4] for p in alive]}"
    assert not port_answers(lab.port)


def project_links() -> set[str]:
    """Paths, relative to the kit's folder, of the project files the lessons link to."""
    import re

    import nbformat

    found = set()
    for path in lesson_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for target in re.findall(r"\]\((\.\./project/[^)\s]+)\)", cell.source):
                    found.add((path.parent / target).resolve().relative_to(KIT_ROOT).as_posix())
    return found


async def run_in_kernel(lab, kernel_id: str, code: str) -> str:
    """Execute code through the kernel's WebSocket channel, the way JupyterLab's front end does."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?token={lab.token}"
    msg_id = uuid.uuid4().hex
    request = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                          "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
               "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
               "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                           "allow_stdin": False, "stop_on_error": True}}
    text = []
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps(request))
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                message = json.loads(await ws.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["header"]["msg_type"]
                if kind == "stream":
                    text.append(message["content"]["text"])
                elif kind == "error":
                    text.append(f"{message['content']['ename']}: {message['content']['evalue']}")
                elif kind == "status" and message["content"]["execution_state"] == "idle":
                    return "".join(text)


# -- the lab's terminal --------------------------------------------------------------------------
@pytest.mark.parametrize("lab", ["lab", "lab-bn"], indirect=True)
def test_the_labs_terminal_finds_kit_and_speaks_the_labs_language(lab, starter_tree):
    """JupyterLab's terminal (POST /api/terminals, then its websocket, as the front end does) finds `kit`
    even when the shell's profile resets PATH, and in `make lab-bn` the kit answers in Bengali."""
    from kit.course.i18n import gettext_in

    _, terminal = get(f"{lab.base}/api/terminals", lab.token, method="POST", body={})
    bengali = lab.target == "lab-bn"
    command = (f"command -v kit; echo lang=$KIT_LANG.; "
               f"kit check settings --project {shlex.quote(str(starter_tree))}; echo END-OF-$((40 + 2))")  # the typed line is echoed: the marker is only in the answer
    output = asyncio.run(run_in_terminal(lab, terminal["name"], command, "END-OF-42"))
    found = [line.strip() for line in output.splitlines() if line.strip().endswith("/kit")]
    assert found and "kit: command not found" not in output, f"`kit` is not on the terminal's PATH:\n{output}"
    assert found[0] == str(Path(sys.executable).parent / "kit"), f"the terminal found another kit: {found[0]}"
    assert ("lang=bn." if bengali else "lang=.") in output, output
    assert re.search(r"✘ settings +0/10", output), f"`kit check` showed no progress line per stage:\n{output[-2000:]}"
    said = gettext_in("bn" if bengali else "en", "fail")
    assert said in output, f"`kit check` in the {lab.target} terminal did not say {said!r}:\n{output[-2000:]}"
    get(f"{lab.base}/api/terminals/{terminal['name']}", lab.token, method="DELETE")


async def run_in_terminal(lab, name: str, command: str, marker: str) -> str:
    """Type a command into a terminal's websocket and collect what it prints until marker."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{lab.port}/terminals/websocket/{name}?token={lab.token}"
    seen = []
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps(["set_size", 40, 200, 800, 2000]))
        await ws.send(json.dumps(["stdin", command + "\r"]))
        async with asyncio.timeout(READY_TIMEOUT):
            while marker not in "".join(seen):
                kind, *rest = json.loads(await ws.recv())
                if kind == "stdout":
                    seen.append(rest[0])
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07", "", "".join(seen))


# -- the lab's own configuration (kit/lab/) ------------------------------------------------------
def lab_config(lang: str, monkeypatch):
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("KIT_LAB_LANG", lang)
    return PyFileConfigLoader("jupyter_lab_config.py", path=str(KIT_ROOT / "kit" / "lab")).load_config()


def test_each_language_has_a_workspace_of_its_own_and_no_news(monkeypatch):
    english, bengali = lab_config("en", monkeypatch), lab_config("bn", monkeypatch)
    en_dir, bn_dir = Path(english.LabApp.workspaces_dir), Path(bengali.LabApp.workspaces_dir)
    assert en_dir != bn_dir and en_dir.is_relative_to(KIT_ROOT / ".kit"), (en_dir, bn_dir)
    # A learner's release commits .kit/starter/ (`git add -A`), never the lab's workspaces.
    from kit.output.release import _gitignore_keeping_snapshot

    released = _gitignore_keeping_snapshot(KIT_ROOT / ".gitignore").splitlines()
    assert en_dir.parent.relative_to(KIT_ROOT).as_posix() + "/" in released, released
    assert english.LabApp.news_url is None
    assert "KIT_LANG=bn" in bengali.ServerApp.terminado_settings["shell_command"]
    assert not any(a.startswith("KIT_LANG") for a in english.ServerApp.terminado_settings["shell_command"])
    assert "--config=kit/lab/jupyter_lab_config.py" in make_lab_command()[0]
    assert make_lab_command("lab-bn")[1]["KIT_LAB_LANG"] == "bn"


def test_the_lab_opens_html_in_the_editor_and_asks_no_news(lab):
    _, docmanager = get(f"{lab.base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin", lab.token)
    # kit/lab/settings/overrides.json changes a setting's default, which the schema carries.
    viewers = docmanager["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("html") == "Editor", viewers
    _, notes = get(f"{lab.base}/lab/api/settings/@jupyterlab/apputils-extension:notification", lab.token)
    assert notes["schema"]["properties"]["fetchNews"]["default"] == "false", notes["schema"]["properties"]
    # Lessons open unmodified: the lab's python3 kernel reports the lesson's own language_info (kit/lessons/kernel.py).
    _, specs = get(f"{lab.base}/api/kernelspecs", lab.token)
    python3 = specs["kernelspecs"]["python3"]["spec"]
    assert "--IPKernelApp.kernel_class=kit.lessons.kernel.LessonKernel" in python3["argv"], python3
    assert python3["display_name"] == "Python 3 (ipykernel)", "the lessons' kernelspec names this display name"
    _, page = get(f"{lab.base}/lab", lab.token)
    assert '"news": {"disabled": true}' in page or '"news":{"disabled":true}' in page


def test_a_lessons_kernel_reports_the_lessons_own_language_info(tmp_path):
    import nbformat

    from kit.lessons.kernel import lesson_language_info

    for lesson in (catalogue.NOTEBOOKS_DIR / "04_routing.ipynb", catalogue.NOTEBOOKS_DIR / "bn" / "04_routing.ipynb"):
        stored = nbformat.read(lesson, as_version=4).metadata.language_info
        assert lesson_language_info(str(lesson)) == stored and "version" not in stored
        assert lesson_language_info(lesson.name, cwd=lesson.parent) == stored   # a path relative to the kernel's folder
    elsewhere = tmp_path / "mine.ipynb"
    elsewhere.write_text((catalogue.NOTEBOOKS_DIR / "04_routing.ipynb").read_text())
    assert lesson_language_info(str(elsewhere)) is None, "a learner's own notebook gets IPython's language_info"
    assert lesson_language_info("") is None


def test_solve_and_reset_say_to_reload_a_file_open_in_the_editor(starter_tree):
    """JupyterLab's editor keeps the text it opened; saving it there after `kit solve` would undo the solve."""
    from kit.course.i18n import gettext_in

    sentence = ("If one of these files is open in JupyterLab's editor, reload it there first (File menu: "
                "Reload … from Disk): saving the editor's old text would undo this.")
    for lang in ("en", "bn"):
        for command in ("solve", "reset"):
            done = subprocess.run([str(Path(sys.executable).parent / "kit"), command, "settings", "--project",
                                   str(starter_tree)], capture_output=True, text=True, timeout=120,
                                  env=dict(os.environ, KIT_LANG=lang, COLUMNS="400"))
            assert done.returncode == 0, done.stderr
            assert gettext_in(lang, sentence) in done.stdout, done.stdout


def test_each_languages_lab_has_its_own_port(monkeypatch):
    """A browser tab of the stopped English lab saves its layout to whatever lab answers on its port: the
    Bengali lab on the same port reopened every English tab (the newcomer's walkthrough)."""
    from traitlets.config import Config

    config_file = KIT_ROOT / "kit" / "lab" / "jupyter_lab_config.py"
    ports = {}
    for lang in ("en", "bn"):
        monkeypatch.setenv("KIT_LAB_LANG", lang)
        monkeypatch.setenv("JUPYTER_PATH", "")
        config = Config()
        exec(compile(config_file.read_text(), str(config_file), "exec"),
             {"get_config": lambda: config, "__file__": str(config_file)})
        ports[lang] = config.ServerApp.port
    assert ports["en"] != ports["bn"], ports
