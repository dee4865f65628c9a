"""Sessions and the request's user are Django's own (database sessions, ``ModelBackend``):
a signed-in session reads the API, and nobody is signed in once the session expired or the
user is inactive."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.sessions.models import Session
from django.http import HttpRequest
from django.test import TestCase
from django.utils import timezone

from tests.mixins import PASSWORD, make_user

API = "/api/v1/datasets/"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class SessionTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("session-user", first_name="Ses", last_name="Sion")

    def test_the_engine_and_the_user_loader_are_djangos(self):
        self.assertEqual(settings.SESSION_ENGINE, "django.contrib.sessions.backends.db")
        # django-axes' backend comes first: it only refuses locked-out sign-ins, never signs anybody in.
        self.assertEqual(settings.AUTHENTICATION_BACKENDS[:2], ["axes.backends.AxesStandaloneBackend", MODEL_BACKEND])

    def test_a_signed_in_session_reads_the_api(self):
        # axes needs the request a sign-in comes with (the admin's login view passes it).
        self.assertTrue(self.client.login(request=HttpRequest(), username="session-user", password=PASSWORD))
        self.assertEqual(self.client.get(API).status_code, 200)

    def test_an_inactive_user_is_nobody(self):
        self.client.force_login(self.user, backend=MODEL_BACKEND)
        self.user.is_active = False
        self.user.save(update_fields=["is_active"])
        self.assertEqual(self.client.get(API).status_code, 401)

    def test_an_expired_session_signs_nobody_in(self):
        self.client.force_login(self.user, backend=MODEL_BACKEND)
        self.assertEqual(self.client.get(API).status_code, 200)
        Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
        self.assertEqual(self.client.get(API).status_code, 401)
