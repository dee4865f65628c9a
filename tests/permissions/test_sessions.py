"""The request's session and user are loaded with plain statements (permissions/sessions.py,
permissions.backends.ModelBackend): the same session data and the same user as Django's ORM
gives, and nobody once the session expired, the user is inactive or gone."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import TestCase
from django.utils import timezone

from permissions.backends import ModelBackend
from permissions.sessions import SessionStore
from tests.mixins import PASSWORD, make_user

API = "/api/v1/datasets/"


class SessionAndUserLoadTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.user = make_user("session-user", first_name="Ses", last_name="Sion")
        cls.user.last_login = timezone.now() - datetime.timedelta(days=2)
        cls.user.save(update_fields=["last_login"])

    def test_the_user_is_the_one_the_orm_gives(self):
        loaded = ModelBackend().get_user(str(self.user.pk))
        expected = get_user_model().objects.get(pk=self.user.pk)
        for field in get_user_model()._meta.concrete_fields:
            self.assertEqual(getattr(loaded, field.attname), getattr(expected, field.attname), field.name)
        self.assertFalse(loaded._state.adding)
        self.assertEqual(loaded._state.db, expected._state.db)
        self.assertIsNone(ModelBackend().get_user(str(self.user.pk + 1000)))

    def test_an_inactive_user_is_nobody(self):
        self.user.is_active = False
        self.user.save(update_fields=["is_active"])
        self.assertIsNone(ModelBackend().get_user(self.user.pk))
        self.client.force_login(self.user, backend="permissions.backends.ModelBackend")
        self.assertEqual(self.client.get(API).status_code, 401)

    def test_a_signed_in_session_reads_the_api(self):
        self.assertTrue(self.client.login(username="session-user", password=PASSWORD))
        self.assertEqual(self.client.get(API).status_code, 200)

    def test_session_data_round_trips_and_an_expired_session_is_forgotten(self):
        store = SessionStore()
        store["answer"] = 42
        store.create()
        key = store.session_key
        self.assertEqual(SessionStore(key).load(), {"answer": 42})
        Session.objects.filter(session_key=key).update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
        expired = SessionStore(key)
        self.assertEqual(expired.load(), {})
        self.assertIsNone(expired.session_key)

    def test_an_expired_session_signs_nobody_in(self):
        self.client.force_login(self.user, backend="permissions.backends.ModelBackend")
        self.assertEqual(self.client.get(API).status_code, 200)
        Session.objects.update(expire_date=timezone.now() - datetime.timedelta(seconds=1))
        self.assertEqual(self.client.get(API).status_code, 401)
