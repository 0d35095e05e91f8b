"""Checkpoint `settings`: Channels is installed and configured in myproject/settings.py.

The settings are read in the host (the learner's code in its own process) and
judged here as data; the default channel layer is tried for real, without REDIS_URL.
"""

from kit.i18n import T
from support import host, setting_values


def settings(*names):
    return setting_values(*names)


def test_settings_import():
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
    reply = host().call("layer_roundtrip", doing=T("Trying the default channel layer"), limit=15)
    assert reply.get("delivered"), T(
        "The default channel layer does not work without REDIS_URL: {problem} "
        "A layer that names a Redis nobody started (the tutorial's 127.0.0.1:6379) fails here: keep "
        "channels.layers.InMemoryChannelLayer as the default, and choose Redis only when REDIS_URL is set "
        "(stage redis).", problem=reply.get('problem', T('nothing arrived')))
