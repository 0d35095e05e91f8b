"""Checkpoint `settings`: Channels is installed and configured in myproject/settings.py."""
import importlib

import pytest

from support import django_setup, explain, fail


def settings():
    django_setup()
    from django.conf import settings as loaded

    return loaded


@pytest.mark.hint("Fix the error shown; settings.py must import cleanly before anything else can run.")
def test_settings_import():
    settings()


@pytest.mark.hint("Add 'channels' to INSTALLED_APPS.")
def test_channels_installed():
    assert "channels" in settings().INSTALLED_APPS, "INSTALLED_APPS has no 'channels'."


@pytest.mark.hint("Add 'daphne' as the first entry of INSTALLED_APPS.")
def test_daphne_installed_first():
    apps = list(settings().INSTALLED_APPS)
    assert "daphne" in apps, "INSTALLED_APPS has no 'daphne'."
    if "django.contrib.staticfiles" in apps:
        assert apps.index("daphne") < apps.index("django.contrib.staticfiles"), \
            "'daphne' must come before 'django.contrib.staticfiles' so its runserver wins."


@pytest.mark.hint("Keep 'myapp' in INSTALLED_APPS: the chat pages and consumer live there.")
def test_myapp_installed():
    apps = settings().INSTALLED_APPS
    assert "myapp" in apps or "myapp.apps.MyappConfig" in apps, "INSTALLED_APPS has no 'myapp'."


@pytest.mark.hint("ASGI_APPLICATION = 'myproject.asgi.application'")
def test_asgi_application_setting():
    value = getattr(settings(), "ASGI_APPLICATION", None)
    assert value, "settings.py has no ASGI_APPLICATION."
    assert value == "myproject.asgi.application", \
        f"ASGI_APPLICATION is {value!r}; it must be 'myproject.asgi.application'."


@pytest.mark.hint("CHANNEL_LAYERS = {'default': {'BACKEND': 'channels.layers.InMemoryChannelLayer'}}")
def test_channel_layers_setting():
    layers = getattr(settings(), "CHANNEL_LAYERS", None)
    assert isinstance(layers, dict) and layers, "settings.py has no CHANNEL_LAYERS."
    assert "default" in layers, "CHANNEL_LAYERS needs a 'default' entry."
    backend = layers["default"].get("BACKEND") if isinstance(layers["default"], dict) else None
    assert backend, "CHANNEL_LAYERS['default'] needs a 'BACKEND'."
    module_name, _, class_name = backend.rpartition(".")
    try:
        getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        fail(explain(exc, f"The channel layer backend {backend!r} cannot be imported"))
