"""Bounded growth (repeated denials counted), incremental verification and signed checkpoints
that a rewritten chain fails against."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import TestCase, override_settings

from permissions import audit, checkpoints
from permissions.context import Actor, system_actor
from permissions.models import AuditChainHead, AuditEventWindow, AuditRecord
from tests import factories
from tests.mixins import make_user
from tests.permissions.test_audit import TABLE, _disable_triggers, _enable_triggers, api_client, head_seq

AUDITOR_PERMS = ("permissions.view_auditrecord",)


def key_file(tmp_path) -> str:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "audit-signing.pem"
    path.write_bytes(pem)
    return str(path)


class TestRepeatedDenials(TestCase):
    def test_a_thousand_denials_add_a_bounded_number_of_records_and_are_counted(self):
        employee = make_user("denied-often")
        auditor = make_user("counting-auditor", perms=AUDITOR_PERMS)
        with system_actor("tests", reason="setup"):
            factories.tag()
        seq = head_seq()
        before = head_seq()
        client = api_client(employee)
        for _ in range(1000):
            self.assertEqual(client.get(f"/api/v1/audit/{seq}/").status_code, 403)
        added = AuditRecord.objects.filter(seq__gt=before)
        self.assertEqual(added.count(), 1)
        first = added.get()
        self.assertEqual((first.action, first.actor_name), ("access_denied", "denied-often"))
        window = AuditEventWindow.objects.get()
        self.assertEqual((window.count, window.first_seq), (1000, first.seq))
        shown = api_client(auditor).get("/api/v1/audit/repeats/").json()["results"]
        self.assertEqual([(row["first_seq"], row["count"]) for row in shown], [(first.seq, 1000)])
        # Once the window has ended, its count is chained in one record and the row goes.
        with system_actor("tests", reason="close windows"):
            [closing] = audit.close_event_windows(at=window.window_start + audit.repeat_window())
        self.assertEqual((closing.action, closing.actor_name, closing.details["repeats"], closing.details["first_seq"]),
                         ("repeated", "denied-often", 999, first.seq))
        self.assertFalse(AuditEventWindow.objects.exists())
        self.assertEqual(AuditRecord.objects.filter(seq__gt=before).count(), 2)
        self.assertTrue(audit.verify_chain().ok)

    @override_settings(ACCORD_AUDIT_REPEAT_WINDOW_SECONDS=0)
    def test_counting_can_be_switched_off(self):
        before = head_seq()
        with system_actor("tests", reason="test"):
            for _ in range(3):
                audit.record_event("access_denied", object_type="catalog.dataset", object_id="7")
        self.assertEqual(AuditRecord.objects.filter(seq__gt=before).count(), 3)


class TestExportMemory(TestCase):
    def test_thirty_thousand_records_stream_in_bounded_memory(self):
        auditor = make_user("export-auditor", perms=AUDITOR_PERMS)
        start = head_seq()
        rows = [AuditRecord(seq=start + i, action="update", actor_name="bulk", object_type="catalog.tag",
                            object_id=str(i), object_repr=f"tag {i}", changes={"description": {"before": "x" * 100,
                                                                                              "after": "y" * 100}},
                            prev_hash="0" * 64, record_hash="f" * 64) for i in range(1, 30001)]
        AuditRecord.objects.bulk_create(rows, batch_size=2000)
        del rows
        for kind in ("jsonl", "csv", "json"):
            response = api_client(auditor).get(f"/api/v1/audit/export/?as={kind}&seq_from={start + 1}")
            self.assertEqual(response.status_code, 200)
            tracemalloc.start()
            size, lines = 0, 0
            for chunk in response.streaming_content:
                size += len(chunk)
                lines += chunk.count(b"\n")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            self.assertGreaterEqual(lines, 30000, kind)
            # Memory is bounded by the export's chunk (1,000 rows), not by the 30,000 records.
            self.assertLess(peak, min(size / 2, 6_000_000), (kind, peak, size))
            print(f"export {kind}: {size / 1e6:.1f} MB streamed, peak {peak / 1e6:.1f} MB")


class TestCheckpoints(TestCase):
    @pytest.fixture(autouse=True)
    def _paths(self, tmp_path):
        self.tmp_path = tmp_path

    def setUp(self):
        self.file = str(self.tmp_path / "checkpoints.jsonl")
        self.settings_override = override_settings(ACCORD_AUDIT_SIGNING_KEY_FILE=key_file(self.tmp_path),
                                                   ACCORD_AUDIT_CHECKPOINT_FILE=self.file)
        self.settings_override.enable()
        self.addCleanup(self.settings_override.disable)
        with system_actor("tests", reason="setup"):
            for _ in range(4):
                factories.tag()

    def checkpoint(self):
        return checkpoints.make_checkpoint(actor=Actor(system="tests"))

    def verify_command(self, *args):
        out = io.StringIO()
        try:
            call_command("verify_audit", *args, stdout=out)
        except CommandError as exc:
            return 1, str(exc)
        return 0, out.getvalue()

    def test_incremental_verification_walks_only_what_is_new(self):
        first = checkpoints.verify()
        self.assertTrue(first.ok)
        with system_actor("tests", reason="more"):
            factories.tag()
        second = checkpoints.verify()
        self.assertEqual((second.ok, second.from_seq, second.checked), (True, first.head_seq, 1))
        self.assertEqual(checkpoints.verify(full=True).checked, head_seq())

    def test_a_signed_checkpoint_is_published_to_the_file_and_verifies(self):
        made = self.checkpoint()
        [line] = checkpoints.read_file(self.file)
        self.assertEqual((line["seq"], line["hash"]), (made.seq, AuditRecord.objects.get(seq=made.seq).record_hash))
        self.assertEqual(line["algorithm"], "ed25519")
        status, output = self.verify_command("--checkpoints", self.file)
        self.assertEqual(status, 0, output)
        self.assertIn("2 signed checkpoints agree (2 signatures checked)", output)  # the stored one and the file's

    def test_a_rehashed_chain_passes_the_plain_check_but_fails_against_an_earlier_checkpoint(self):
        early = self.checkpoint()
        with system_actor("tests", reason="more"):
            for _ in range(3):
                factories.tag()
        late = self.checkpoint()
        with system_actor("tests", reason="after"):
            factories.tag()
        edited = early.seq + 1
        self.assertLess(edited, late.seq)
        # A database superuser: triggers off, edit one record, re-hash it and every later one, and the head.
        with connection.cursor() as cursor:
            _disable_triggers(cursor)
            try:
                prev = AuditRecord.objects.get(seq=edited - 1).record_hash
                for record in AuditRecord.objects.filter(seq__gte=edited).order_by("seq"):
                    if record.seq == edited:
                        record.actor_name = "mallory"
                    record.prev_hash = prev
                    record.record_hash = audit.compute_hash(record)
                    cursor.execute(f"UPDATE {TABLE} SET actor_name = %s, prev_hash = %s, record_hash = %s "
                                   "WHERE seq = %s", [record.actor_name, record.prev_hash, record.record_hash,
                                                      record.seq])
                    prev = record.record_hash
                AuditChainHead.objects.filter(id=1).update(record_hash=prev, prev_hash=record.prev_hash)
            finally:
                _enable_triggers(cursor)
        self.assertTrue(audit.verify_chain().ok)  # the chain alone still links up
        result = checkpoints.verify(full=True, checkpoint_lines=checkpoints.read_file(self.file))
        self.assertFalse(result.ok)
        self.assertEqual(result.broken_seq, late.seq)
        self.assertIn(f"record #{late.seq} disagrees", result.problem)
        self.assertIn(f"after #{early.seq}", result.problem)
        status, output = self.verify_command("--full", "--checkpoints", self.file)
        self.assertEqual(status, 1)
        self.assertIn(f"BROKEN at record #{late.seq}", output)
        # The stored checkpoints alone (no file given) find it too, and the incremental walk as well.
        self.assertEqual(checkpoints.verify().broken_seq, late.seq)

    def test_a_stored_checkpoint_rewritten_to_match_fails_its_signature(self):
        made = self.checkpoint()
        forged = {**made.published, "hash": "0" * 64}
        result = checkpoints.verify(full=True, checkpoint_lines=[forged])
        self.assertFalse(result.ok)
        self.assertIn("signature that does not verify", result.problem)

    def test_no_key_no_checkpoint(self):
        with override_settings(ACCORD_AUDIT_SIGNING_KEY_FILE=""):
            with self.assertRaises(checkpoints.CheckpointError):
                self.checkpoint()

    def test_auditors_can_ask_for_a_checkpoint_through_the_api(self):
        auditor = make_user("checkpoint-auditor", perms=AUDITOR_PERMS)
        response = api_client(auditor).post("/api/v1/audit/checkpoint/")
        self.assertEqual(response.status_code, 201, response.content)
        self.assertEqual(json.loads(open(self.file).read())["seq"], response.json()["seq"])
        self.assertEqual(api_client(make_user("not-an-auditor")).post("/api/v1/audit/checkpoint/").status_code, 403)
