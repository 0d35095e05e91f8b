"""Checkpoint `settings`: Channels is installed and configured in myproject/settings.py.

Most settings have no behaviour of their own before later stages: their
values are asked, and those checks are named as asked in docs/architecture.md.
They are asked of a fresh Python that only loads settings.py (the host, whose
methods settings.py could replace, only explains a failure to load), and that
Python also sends a message through the default layer to itself. What the
channel layer setting does is observed with the checks' own clients on the
host's socket too: two sockets of the kit's broadcaster talk through the
default layer exactly as the settings make it, without REDIS_URL. (Serving a
page would load the project's URLs and views, which may import later stages'
files.)
"""
import json
import secrets

from kit.course.i18n import T, recall
from support import WAIT, LearnerCodeError, Socket, django_setup, fail, host, layer_app, run, run_in_tree

MARK = "kit-settings-" + secrets.token_hex(8)
NAMES = ("INSTALLED_APPS", "ASGI_APPLICATION", "CHANNEL_LAYERS")
READ = """
import asyncio, json, sys
import django
django.setup()
from django.conf import settings
out = {"values": {n: getattr(settings, n) for n in %r if hasattr(settings, n)}, "delivered": False}
async def roundtrip():
    from channels.layers import get_channel_layer
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("kit-settings", channel)
    await layer.group_send("kit-settings", {"type": "kit.relay", "text": sys.argv[1]})
    return (await asyncio.wait_for(layer.receive(channel), 5)).get("text") == sys.argv[1]
try:
    out["delivered"] = asyncio.run(asyncio.wait_for(roundtrip(), 10))
except BaseException as exc:
    out["layer_error"] = type(exc).__name__ + ": " + str(exc)
print("\\n" + sys.argv[2] + json.dumps(out, default=repr), flush=True)
""" % (NAMES,)
_read: list = []
_why: list = []


def fresh() -> dict:
    """What a fresh Python on the tree finds in the settings (read once per checking process)."""
    if not _read:
        token = secrets.token_hex(6)
        code, out, err = run_in_tree(["-c", READ, token, MARK], env={"DJANGO_SETTINGS_MODULE": "myproject.settings",
                                                                     "REDIS_URL": ""}, timeout=6 * WAIT)
        found = [line[len(MARK):] for line in out.splitlines() if line.startswith(MARK)]
        _why[:] = (err.strip().splitlines() or [T("exit code {code}", code=code)])[-1:]
        try:
            _read.append(json.loads(found[-1]) if found else None)
        except ValueError:
            _read.append(None)
        if _read[0] is not None:
            _read[0]["delivered"] = _read[0].get("delivered") is True
            _read[0]["token"] = token
    if _read[0] is None:
        django_setup()  # the host explains why settings.py does not load
        fail(T("Loading myproject/settings.py in a fresh Python failed: {error}", error=_why[0] if _why else "?"))
    return _read[0]


def settings(*names):
    values = fresh().get("values")
    values = values if isinstance(values, dict) else {}
    return {name: values[name] for name in names if name in values}


def test_settings_import():
    django_setup()  # the host loads them too: the later checks of this stage serve from it
    settings("INSTALLED_APPS")


def test_channels_installed():
    assert "channels" in settings("INSTALLED_APPS").get("INSTALLED_APPS", []), T("INSTALLED_APPS has no 'channels'.")


def test_daphne_installed_first():
    apps = list(settings("INSTALLED_APPS").get("INSTALLED_APPS", []))
    assert "daphne" in apps, T("INSTALLED_APPS has no 'daphne'.")
    if "django.contrib.staticfiles" in apps:
        assert apps.index("daphne") < apps.index("django.contrib.staticfiles"), \
            T("'daphne' must come before 'django.contrib.staticfiles' so its runserver wins.")


def test_myapp_installed():
    apps = settings("INSTALLED_APPS").get("INSTALLED_APPS", [])
    assert "myapp" in apps or "myapp.apps.MyappConfig" in apps, T("INSTALLED_APPS has no 'myapp'.")


def test_asgi_application_setting():
    value = settings("ASGI_APPLICATION").get("ASGI_APPLICATION")
    assert value, T("settings.py has no ASGI_APPLICATION.")
    assert value == "myproject.asgi.application", \
        T("ASGI_APPLICATION is {value}; it must be 'myproject.asgi.application'.", value=repr(value))


def test_channel_layers_setting():
    layers = settings("CHANNEL_LAYERS").get("CHANNEL_LAYERS")
    assert isinstance(layers, dict) and layers, T("settings.py has no CHANNEL_LAYERS.")
    assert "default" in layers, T("CHANNEL_LAYERS needs a 'default' entry.")
    backend = layers["default"].get("BACKEND") if isinstance(layers["default"], dict) else None
    assert isinstance(backend, str) and backend, T("CHANNEL_LAYERS['default'] needs a 'BACKEND'.")
    host().call("importable", path=backend, doing=T("Importing the channel layer backend"))


def test_default_layer_works_without_redis():
    """Two sockets of the kit's own broadcaster, joined through the default layer the settings make."""
    said = f"through the layer {secrets.token_hex(4)}"
    heard, problem = None, None

    async def scenario():
        nonlocal heard
        app = layer_app()
        alice, bob = (Socket(app, "kit", path="/ws/kit-layer/", user=None) for _ in range(2))
        await alice.connect()
        await bob.connect()
        await alice.send_text(said)
        output = await bob.receive_output(T("a message through the channel layer"))
        heard = output and output.get("text")
        await alice.close()
        await bob.close()

    try:
        run(scenario, limit=15)
    except LearnerCodeError as exc:
        problem = recall(str(exc))
    if heard == said and not fresh()["delivered"]:
        problem = fresh().get("layer_error") or T("a message sent through it in a fresh Python never arrived.")
        heard = None
    assert heard == said, T(
        "The default channel layer does not work without REDIS_URL: {problem} "
        "A layer that names a Redis nobody started (the tutorial's 127.0.0.1:6379) fails here: keep "
        "channels.layers.InMemoryChannelLayer as the default, and choose Redis only when REDIS_URL is set "
        "(stage redis).", problem=problem or T('nothing arrived.'))
