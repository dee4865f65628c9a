"""Checkpoints of the audit chain: verified points to verify on from, and signed heads published
outside the database, so a chain rewritten by someone who can write the database is found.

* **Verified** checkpoints (``AuditCheckpoint``, kind ``verified``): where the last successful
  verification ended. ``verify()`` starts at the last one, checks that its record still has the
  hash it had, and walks only the records after it; ``verify(full=True)`` walks from the genesis.
* **Signed** checkpoints: the chain head (seq, hash, time), verified first, then signed with a
  key the database does not hold (Ed25519 from ``cryptography``, or HMAC-SHA256), and published
  as one JSON line: appended to ``ACCORD_AUDIT_CHECKPOINT_FILE``, sent to the subscribers of the
  webhook event ``audit.checkpoint`` (the ``checkpoint_signed`` signal; governance sends it), and
  kept in the table. Re-hashing the chain after an edit changes the hash of every later record,
  so the record at any earlier checkpoint's seq no longer has the signed hash.

The signed line: ``{"type": "accord.audit.checkpoint", "seq", "hash", "head_timestamp",
"signed_at", "algorithm", "key_id", "signature"}``; the signature covers the line without
``signature``, as JSON with sorted keys and no spaces (UTF-8), and is base64.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from permissions import audit, context
from permissions.models import AuditCheckpoint, AuditRecord, CheckpointKind

CHECKPOINT_TYPE = "accord.audit.checkpoint"
ALGORITHMS = ("ed25519", "hmac-sha256")
#: Sent after a signed checkpoint is committed, with ``line`` (the published dict).
checkpoint_signed = Signal()


class CheckpointError(Exception):
    """A checkpoint could not be made (no key, or a chain that does not verify)."""


# --- keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    algorithm: str
    key_id: str
    check: Callable[[bytes, bytes], bool]

    def verifies(self, message: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, TypeError):
            return False
        return self.check(message, raw)


@dataclass(frozen=True)
class Signer:
    algorithm: str
    key_id: str
    sign_bytes: Callable[[bytes], bytes]
    verifier: Verifier

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.sign_bytes(message)).decode()


def _key_material() -> bytes | None:
    text = getattr(settings, "ACCORD_AUDIT_SIGNING_KEY", "")
    path = getattr(settings, "ACCORD_AUDIT_SIGNING_KEY_FILE", "")
    if text and path:
        raise ImproperlyConfigured("Set ACCORD_AUDIT_SIGNING_KEY or ACCORD_AUDIT_SIGNING_KEY_FILE, not both.")
    if path:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ImproperlyConfigured(f"ACCORD_AUDIT_SIGNING_KEY_FILE: cannot read {path} ({exc.strerror}).") from exc
    return text.encode() if text else None


def _ed25519_key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _ed25519_verifier(public: Ed25519PublicKey) -> Verifier:
    def check(message: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return Verifier("ed25519", _ed25519_key_id(public), check)


def _ed25519_private(material: bytes) -> Ed25519PrivateKey:
    """A PEM private key (``openssl genpkey -algorithm ed25519``), or the base64 of its 32 raw bytes."""
    try:
        key = serialization.load_pem_private_key(material, password=None)
    except (ValueError, TypeError):
        try:
            raw = base64.b64decode(material.strip(), validate=True)
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ImproperlyConfigured(
                "The audit signing key is neither an unencrypted PEM private key nor the base64 of 32 bytes "
                "(make one with: openssl genpkey -algorithm ed25519).") from None
        return Ed25519PrivateKey.from_private_bytes(raw)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured("The audit signing key is not an Ed25519 key (ACCORD_AUDIT_SIGNING_ALGORITHM is "
                                   "ed25519).")
    return key


def _hmac_signer(material: bytes) -> Signer:
    secret = material.strip()
    if len(secret) < 32:
        raise ImproperlyConfigured("The audit HMAC key must be at least 32 bytes.")
    key_id = hmac.new(secret, b"accord audit checkpoint key id", hashlib.sha256).hexdigest()[:16]

    def sign(message: bytes) -> bytes:
        return hmac.new(secret, message, hashlib.sha256).digest()

    verifier = Verifier("hmac-sha256", key_id, lambda message, signature: hmac.compare_digest(sign(message), signature))
    return Signer("hmac-sha256", key_id, sign, verifier)


def signer() -> Signer | None:
    """The configured signing key, or None when none is configured."""
    material = _key_material()
    if material is None:
        return None
    algorithm = getattr(settings, "ACCORD_AUDIT_SIGNING_ALGORITHM", "ed25519")
    if algorithm == "hmac-sha256":
        return _hmac_signer(material)
    if algorithm != "ed25519":
        raise ImproperlyConfigured(f"ACCORD_AUDIT_SIGNING_ALGORITHM: choose one of {', '.join(ALGORITHMS)}.")
    key = _ed25519_private(material)
    verifier = _ed25519_verifier(key.public_key())
    return Signer("ed25519", verifier.key_id, key.sign, verifier)


def public_key_verifier(path: str) -> Verifier:
    """A verifier from an Ed25519 public key file (PEM), for verifying where the private key is not."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise CheckpointError(f"Cannot read the public key {path} ({exc.strerror}).") from exc
    except ValueError as exc:
        raise CheckpointError(f"{path} is not a PEM public key.") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path} is not an Ed25519 public key.")
    return _ed25519_verifier(key)


def public_key_pem() -> str:
    """The PEM public key of the configured Ed25519 key (to hand to whoever verifies elsewhere)."""
    material = _key_material()
    if material is None or getattr(settings, "ACCORD_AUDIT_SIGNING_ALGORITHM", "ed25519") != "ed25519":
        raise CheckpointError("No Ed25519 signing key is configured.")
    public = _ed25519_private(material).public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _verifiers(extra: Iterable[Verifier] = ()) -> dict[str, Verifier]:
    found = {v.key_id: v for v in extra}
    path = getattr(settings, "ACCORD_AUDIT_VERIFY_KEY_FILE", "")
    if path:
        v = public_key_verifier(path)
        found.setdefault(v.key_id, v)
    key = signer()
    if key is not None:
        found.setdefault(key.key_id, key.verifier)
    return found


# --- lines -------------------------------------------------------------------------------------


def signed_bytes(line: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in line.items() if k != "signature"}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()


def read_file(path: str) -> list[dict[str, Any]]:
    """The checkpoint lines of a JSON Lines file (a published checkpoint file)."""
    lines = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError as exc:
                    raise CheckpointError(f"{path}, line {number}: not JSON ({exc.msg}).") from exc
                if not isinstance(line, dict) or line.get("type") != CHECKPOINT_TYPE:
                    raise CheckpointError(f"{path}, line {number}: not an Accord audit checkpoint.")
                lines.append({**line, "_source": f"{path}, line {number}"})
    except OSError as exc:
        raise CheckpointError(f"Cannot read {path} ({exc.strerror}).") from exc
    return lines


def append_to_file(line: dict[str, Any], path: str) -> None:
    """Append one line to the checkpoint file, whole (one write under an exclusive lock), flushed to disk."""
    data = (json.dumps(line, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


# --- verification ------------------------------------------------------------------------------


def _stored_lines() -> list[dict[str, Any]]:
    return [{**row.published, "_source": f"stored checkpoint {row.pk}"}
            for row in AuditCheckpoint.objects.filter(kind=CheckpointKind.SIGNED).order_by("seq", "pk")]


def _failed(result: audit.VerifyResult, seq: int, problem: str) -> audit.VerifyResult:
    result.ok, result.broken_seq, result.problem = False, seq, problem
    return result


def _check_lines(result: audit.VerifyResult, lines: list[dict[str, Any]], verifiers: dict[str, Verifier]
                 ) -> audit.VerifyResult:
    """Every checkpoint line against the chain: its signature (when a key to check it is at hand)
    and the hash of the record at its seq. The failure named is the earliest record that disagrees."""
    wanted = sorted({int(line["seq"]) for line in lines if isinstance(line.get("seq"), int)})
    hashes: dict[int, str] = {}
    for index in range(0, len(wanted), 1000):
        hashes.update(AuditRecord.objects.filter(seq__in=wanted[index:index + 1000])
                      .values_list("seq", "record_hash"))
    head = result.head_seq or 0
    problems: list[tuple[int, str]] = []
    agreeing = [0]
    for line in sorted(lines, key=lambda item: item.get("seq") if isinstance(item.get("seq"), int) else -1):
        source, seq, expected = line.get("_source", "a checkpoint"), line.get("seq"), line.get("hash")
        if not isinstance(seq, int) or not isinstance(expected, str):
            problems.append((-1, f"{source} has no seq and hash"))
            continue
        verifier = verifiers.get(str(line.get("key_id", "")))
        if verifier is not None:
            result.signatures_checked += 1
            if verifier.algorithm != line.get("algorithm") or not verifier.verifies(
                    signed_bytes({k: v for k, v in line.items() if k != "_source"}), str(line.get("signature", ""))):
                problems.append((seq, f"the checkpoint of record #{seq} ({source}) has a signature that does not "
                                      f"verify with key {verifier.key_id}: it was altered"))
                continue
        result.checkpoints_checked += 1
        if seq == 0:
            continue
        actual = hashes.get(seq)
        if actual is None:
            where = "the chain ends before it" if seq > head else "the record is missing"
            problems.append((seq, f"record #{seq} is signed in {source} ({line.get('signed_at')}) but {where}: "
                                  "records were removed"))
        elif actual != expected:
            problems.append((seq, f"record #{seq} disagrees with the checkpoint signed at {line.get('signed_at')} "
                                  f"({source}): its hash is {actual[:16]}…, the checkpoint says {expected[:16]}…; "
                                  f"the chain was rewritten at or before #{seq} (after #{max(agreeing)}, the last "
                                  "checkpoint it agrees with)"))
        else:
            agreeing.append(seq)
    if problems:
        seq, problem = min(problems, key=lambda item: item[0])
        return _failed(result, seq, problem)
    unsigned = {str(line.get("key_id", "")) for line in lines} - set(verifiers)
    if unsigned:
        result.notes.append("signatures not checked (no key at hand) for key ids: " + ", ".join(sorted(unsigned)))
    return result


def verify(*, full: bool = False, checkpoint_lines: Iterable[dict[str, Any]] = (),
           verifiers: Iterable[Verifier] = (), store: bool = True) -> audit.VerifyResult:
    """Verify the chain from the last verified checkpoint (from the genesis with ``full``), then
    against every signed checkpoint stored and given; store where this verification ended."""
    start_seq, start_hash = 0, audit.GENESIS_HASH
    last = None if full else AuditCheckpoint.objects.filter(kind=CheckpointKind.VERIFIED).order_by("-seq").first()
    if last is not None and last.seq > 0:
        now_hash = AuditRecord.objects.filter(seq=last.seq).values_list("record_hash", flat=True).first()
        if now_hash != last.record_hash:
            result = audit.VerifyResult(False, 0, None, audit.GENESIS_HASH, last.seq, "")
            how = "is missing" if now_hash is None else "no longer has the hash it had"
            return _failed(result, last.seq, f"record #{last.seq} {how} when it was verified at "
                                             f"{last.created_at.isoformat()}: the chain was rewritten at or before it")
        start_seq, start_hash = last.seq, last.record_hash
    result = audit.verify_chain(start_seq=start_seq, start_hash=start_hash)
    result.from_seq = start_seq
    if not result.ok:
        return result
    result = _check_lines(result, [*_stored_lines(), *checkpoint_lines], _verifiers(verifiers))
    if result.ok and store and (result.head_seq or 0) > start_seq:
        AuditCheckpoint.objects.create(kind=CheckpointKind.VERIFIED, seq=result.head_seq,
                                       record_hash=result.head_hash, full=full)
    return result


# --- signing -----------------------------------------------------------------------------------


def make_checkpoint(*, actor) -> AuditCheckpoint:
    """Count the ended windows into the chain, verify it, sign its head and publish the line.

    Refused (``CheckpointError``) without a key or when the chain does not verify: a rewritten
    chain is never signed."""
    key = signer()
    if key is None:
        raise CheckpointError("No signing key: set ACCORD_AUDIT_SIGNING_KEY_FILE (or ACCORD_AUDIT_SIGNING_KEY) "
                              "to an Ed25519 private key kept outside the database.")
    with context.acting_as(actor):
        audit.close_event_windows()
    result = verify()
    if not result.ok:
        raise CheckpointError(f"The chain does not verify, so nothing was signed: BROKEN at record "
                              f"#{result.broken_seq}: {result.problem}")
    seq, record_hash = result.head_seq or 0, result.head_hash
    head_time = AuditRecord.objects.filter(seq=seq).values_list("timestamp", flat=True).first()
    line: dict[str, Any] = {
        "type": CHECKPOINT_TYPE, "seq": seq, "hash": record_hash,
        "head_timestamp": head_time.astimezone(datetime.UTC).isoformat() if head_time else None,
        "signed_at": timezone.now().astimezone(datetime.UTC).isoformat(),
        "algorithm": key.algorithm, "key_id": key.key_id,
    }
    line["signature"] = key.sign(signed_bytes(line))
    path = getattr(settings, "ACCORD_AUDIT_CHECKPOINT_FILE", "")
    if path:
        append_to_file(line, path)  # first: a checkpoint that is stored has been published
    with transaction.atomic():
        checkpoint = AuditCheckpoint.objects.create(kind=CheckpointKind.SIGNED, seq=seq, record_hash=record_hash,
                                                    published=line)
        transaction.on_commit(lambda: checkpoint_signed.send(sender=AuditCheckpoint, line=line))
    return checkpoint
