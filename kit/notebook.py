"""What a lesson's cells import: the one module a learner's notebook names (the work is in kit/lessons/).

    from kit.notebook import lesson, serve, stop
    from kit import check, hint
"""
from __future__ import annotations

from kit.course.project import django_env
from kit.lessons.checkpoint import CheckResult, check, hint, progress
from kit.lessons.live import inbox, open_client, serve, show_received, stop
from kit.lessons.notebook import LessonError, explain_error, lesson, load, use_project
from kit.services.redis import RedisServer
from kit.services.server import DaphneServer

__all__ = ["CheckResult", "DaphneServer", "LessonError", "RedisServer", "check", "django_env", "explain_error", "hint",
           "inbox", "lesson", "load", "open_client", "progress", "serve", "show_received", "stop", "use_project"]
