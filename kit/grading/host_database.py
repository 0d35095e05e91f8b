"""The host's questions about the learner's database: migrate it, read its migrations, add history rows,
slow its queries down (a mixin of Host; the ORM runs in a worker thread, as a consumer's would)."""
from __future__ import annotations

import time

from kit.course.i18n import T
from kit.grading.host_base import Refusal


class Database:
    # -- users ----------------------------------------------------------------------------
    async def op_migrate(self) -> dict:
        """The tree's database made or brought up to date (an intervention: the checker logs users in itself,
        kit/grading/sessions.py, and reads the rows back; a host that skips this only fails its own log-in)."""
        self.django_setup()
        from asgiref.sync import sync_to_async

        from kit.grading import sessions

        if getattr(self, "migrated", False):
            return {"ok": True}
        try:  # the ORM refuses to run on the event loop's thread: a worker thread, as a consumer would
            await sync_to_async(sessions.migrate)()
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("python manage.py migrate failed"))) from None
        self.migrated = True
        return {"ok": True}

    # -- history ----------------------------------------------------------------------------
    def message_model(self):
        self.django_setup()
        from django.apps import apps

        try:
            return apps.get_model("myapp", "Message")
        except LookupError:
            return None

    async def op_migrations(self) -> dict:
        """Is there a Message model, a migration for all of it, and does `migrate` run? As data."""
        from asgiref.sync import sync_to_async

        model = self.message_model()
        if model is None:
            return {"model": False}
        return await sync_to_async(self.migrate_messages)(model)

    def migrate_messages(self, model) -> dict:
        from django.apps import apps
        from django.core.management import call_command
        from django.db import connection
        from django.db.migrations.autodetector import MigrationAutodetector
        from django.db.migrations.loader import MigrationLoader
        from django.db.migrations.state import ProjectState

        try:
            loader = MigrationLoader(None, ignore_no_migrations=True)
            files = sorted(name for app, name in loader.disk_migrations if app == "myapp")
            changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
                graph=loader.graph)
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Reading myapp/migrations/ failed"))) from None
        answer = {"model": True, "files": files, "unmigrated": "myapp" in changes, "db_table": model._meta.db_table,
                  "fields": [f.name for f in model._meta.get_fields()]}
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self.migrated = True
        except BaseException as exc:
            answer["migrate"] = self.places.explain(exc, T("python manage.py migrate failed"))
            return answer
        answer["table"] = model._meta.db_table in connection.introspection.table_names()
        return answer

    async def op_add_messages(self, room: str, author: str, texts: list[str]) -> dict:
        """Rows of the learner's Message, oldest first, a second apart and an hour ago (no socket, no rate limit)."""
        from asgiref.sync import sync_to_async

        model = self.message_model()
        if model is None:
            raise Refusal(T("myapp/models.py has no Message model."))

        def add():
            import datetime

            from django.contrib.auth import get_user_model
            from django.utils import timezone

            user, _ = get_user_model().objects.get_or_create(username=author)
            start = timezone.now() - datetime.timedelta(hours=1)
            for number, text in enumerate(texts):
                row = model.objects.create(room=room, author=user, text=text)
                model.objects.filter(pk=row.pk).update(created=start + datetime.timedelta(seconds=number))
        try:
            await sync_to_async(add)()
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Saving a Message(room=..., author=..., text=...) failed")))
        return {"ok": True}

    def op_slow_queries(self, seconds: float, kinds: list[str] = ()) -> dict:
        """From now on each query of the Message table whose SQL starts with one of kinds sleeps `seconds`,
        in whatever thread runs it; seconds=0 ends that. The checks time the loop meanwhile, with pings."""
        from django.db.backends import utils

        wrapper = utils.CursorWrapper
        original = getattr(wrapper, "kit_original", None) or wrapper._execute_with_wrappers
        wrapper.kit_original = original
        model = self.message_model()
        table = model._meta.db_table if model is not None else None
        wanted = tuple(kind.upper() for kind in kinds)

        def slowed(cursor, sql, params, many, executor):
            if table and table in sql and sql.lstrip().upper().startswith(wanted):
                time.sleep(seconds)
            return original(cursor, sql, params, many, executor)

        wrapper._execute_with_wrappers = slowed if seconds and table else original
        return {"table": table}
