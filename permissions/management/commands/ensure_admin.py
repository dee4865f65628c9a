"""manage.py ensure_admin — create the first superuser, or leave an existing one alone.

Reads ACCORD_ADMIN_USERNAME (default "admin"), ACCORD_ADMIN_EMAIL and
ACCORD_ADMIN_PASSWORD. Without a password, a new account gets a generated one,
shown once on standard output and stored only as a hash.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from permissions.context import system_actor


class Command(BaseCommand):
    help = (
        "Create a superuser from ACCORD_ADMIN_USERNAME / ACCORD_ADMIN_EMAIL / ACCORD_ADMIN_PASSWORD "
        "unless that user exists. Without a password one is generated and printed once."
    )

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        username = os.environ.get("ACCORD_ADMIN_USERNAME", "").strip() or "admin"
        email = os.environ.get("ACCORD_ADMIN_EMAIL", "").strip()
        password = os.environ.get("ACCORD_ADMIN_PASSWORD", "")

        if user_model._default_manager.filter(username=username).exists():
            self._report_existing(username)
            return

        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        else:
            try:
                validate_password(password, user_model(username=username, email=email))
            except ValidationError as exc:
                raise CommandError(
                    "ACCORD_ADMIN_PASSWORD is too weak: " + " ".join(exc.messages)
                    + " Choose a stronger one, or unset it to have one generated."
                ) from exc

        try:
            with system_actor("ensure_admin", reason="Create the first superuser"), transaction.atomic():
                user_model._default_manager.create_superuser(username=username, email=email, password=password)
        except IntegrityError:
            # Another process created the same user a moment ago.
            self._report_existing(username)
            return

        if generated:
            self.stdout.write(f"Admin login: {username} / {password}")
            self.stdout.write("This password is shown only once; change it in the admin after logging in.")
        else:
            self.stdout.write(f"Created superuser {username!r} with the password from ACCORD_ADMIN_PASSWORD.")

    def _report_existing(self, username: str) -> None:
        self.stdout.write(f"Admin user {username!r} already exists; its password is unchanged.")
