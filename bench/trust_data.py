"""People, deny rules, exceptions and audit history for the trust-layer benchmark (``bench.trust_bench``).

On top of a catalog from ``bench.data`` (200 owners, 20 departments, 50 systems, 30 tags,
datasets and fields), everything is deterministic (derived from loop indexes):

* **people**: 40 groups (``team-01`` … ``team-39`` and ``contractors``); owner ``u`` belongs to
  department ``1 + (u - 1) % 20`` (owners 1–20 as its lead) and to two groups of ``team-03`` …
  ``team-39`` (every 25th owner also to ``contractors``); Sales sits
  inside Growth (so a rule about Growth reaches Sales' members), Customer Success inside
  Customer Support. Two more accounts: the **reader** (``bench-reader``, member of Sales,
  groups ``team-01`` and ``team-02``), who makes every read request, and the **writer**
  (``bench-writer``, lead of Finance), who makes the write requests;
* **10,000 active deny rules** (``RULES`` by default), of which 27 reach the reader (23 in the
  1,000-dataset catalog of ``BENCH_SCALE=small``, where four of the named datasets do not exist):

  - 12 on datasets for Sales (one of them lifted for the reader by an exception), 3 on
    datasets for Growth (Sales' parent), 10 on fields for ``team-01`` (two of them fields of
    the dataset the detail benchmark reads), one tag rule (``hr-sensitive``) for the reader
    themselves, expiring in 90 days;
  - one classification rule for everyone ("restricted and above"), lifted by exceptions for
    Sales and Finance: it applies to the reader's subjects but is lifted, so it must still be
    matched against exceptions on every request;

  and the rest reach other people: about 60 % on single datasets, 35 % on single fields, and
  systems, tags and classification levels (``contractors`` may not see confidential data),
  for the other 17 departments, groups ``team-03`` … ``team-39`` and individual owners;
  one rule in five expires in the next year;
* **500 expired rules** (not active; not counted in the 10,000), one of which would hide a
  whole system from the reader;
* **1,000 exceptions** on rules for other people (10 % expired), plus the three above;
* **audit history**: ``AUDIT_HISTORY`` records (a valid hash chain, built with
  ``permissions.audit.compute_hash``) so that appends land in an audit table of a
  realistic size, and ``verify_chain`` can prove afterwards that concurrent writers
  neither forked nor broke it.

The rows go straight into the tables (``COPY``), without services or audit records.
``reader_hidden_datasets`` says which datasets the rules hide from the reader, so the
benchmark can check that the endpoint hides exactly those.
"""

from __future__ import annotations

import datetime as dt
import json

from bench.data import DEPARTMENTS, TAGS, USERS

RULES = 10_000
EXPIRED_RULES = 500
EXCEPTIONS = 1_000
AUDIT_HISTORY = 100_000
GROUPS = [f"team-{i:02d}" for i in range(1, 40)] + ["contractors"]

READER, WRITER = "bench-reader", "bench-writer"
READER_ID, WRITER_ID = USERS + 1, USERS + 2
SALES, FINANCE, GROWTH = (DEPARTMENTS.index(name) + 1 for name in ("Sales", "Finance", "Growth"))
CUSTOMER_SUPPORT, CUSTOMER_SUCCESS = (DEPARTMENTS.index(name) + 1 for name in ("Customer Support",
                                                                                 "Customer Success"))
HR_SENSITIVE_TAG = TAGS.index("hr-sensitive") + 1
DETAIL_DATASET_ID = 50
# Datasets hidden from the reader by rules about Sales (64 is lifted by an exception for the reader)
# and about Growth, Sales' parent department.
SALES_HIDDEN = (3, 17, 22, 41, 64, 88, 120, 333, 777, 1234, 2500, 4999)
READER_EXCEPTED = 64
GROWTH_HIDDEN = (9, 95, 3001)
CLASSIFICATION_LEVELS = ["public", "internal", "confidential", "pii", "restricted"]


def create_people(cursor) -> None:
    """Groups, memberships, the department tree, the reader and the writer."""
    cursor.execute("SELECT coalesce(max(id), 0) FROM auth_group")
    first_group = cursor.fetchone()[0] + 1
    cursor.execute(
        "INSERT INTO auth_group (id, name) SELECT %s + i - 1, name FROM unnest(%s::text[]) WITH ORDINALITY g(name, i)",
        [first_group, GROUPS],
    )
    cursor.execute(
        """
        INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,
                               is_staff, is_active, date_joined)
        VALUES (%s, '!', false, %s, 'Rita', 'Reader', 'reader@example.com', false, true, now()),
               (%s, '!', false, %s, 'Walt', 'Writer', 'writer@example.com', false, true, now())
        """,
        [READER_ID, READER, WRITER_ID, WRITER],
    )
    # Owners: one department each (owners 1–20 lead theirs), two groups each (never the reader's two).
    cursor.execute(
        """
        INSERT INTO catalog_departmentmembership (created_at, updated_at, department_id, user_id, role)
        SELECT now(), now(), 1 + (u - 1) %% 20, u, CASE WHEN u <= 20 THEN 'lead' ELSE 'member' END
        FROM generate_series(1, %(users)s) u
        UNION ALL SELECT now(), now(), %(sales)s, %(reader)s, 'member'
        UNION ALL SELECT now(), now(), %(finance)s, %(writer)s, 'lead'
        """,
        {"users": USERS, "sales": SALES, "finance": FINANCE, "reader": READER_ID, "writer": WRITER_ID},
    )
    cursor.execute(
        """
        INSERT INTO auth_user_groups (user_id, group_id)
        SELECT u, %(first)s + 2 + (u %% 37) FROM generate_series(1, %(users)s) u
        UNION
        SELECT u, %(first)s + 2 + ((u * 7 + 3) %% 37) FROM generate_series(1, %(users)s) u
        UNION
        SELECT u, %(first)s + 39 FROM generate_series(1, %(users)s) u WHERE u %% 25 = 0
        UNION ALL SELECT %(reader)s, %(first)s
        UNION ALL SELECT %(reader)s, %(first)s + 1
        """,
        {"first": first_group, "users": USERS, "reader": READER_ID},
    )
    cursor.execute("UPDATE catalog_department SET parent_id = %s WHERE id = %s", [GROWTH, SALES])
    cursor.execute("UPDATE catalog_department SET parent_id = %s WHERE id = %s", [CUSTOMER_SUPPORT, CUSTOMER_SUCCESS])
    for table in ("auth_group", "auth_user", "catalog_departmentmembership", "auth_user_groups"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")


def _group_ids(cursor) -> dict[str, int]:
    cursor.execute("SELECT name, id FROM auth_group WHERE name = ANY(%s)", [GROUPS])
    return dict(cursor.fetchall())


def _content_types(cursor) -> dict[str, int]:
    cursor.execute("SELECT model, id FROM django_content_type WHERE app_label = 'catalog'")
    return dict(cursor.fetchall())


RULE_COLUMNS = ("id", "created_at", "updated_at", "subject_kind", "subject_department_id", "subject_group_id",
                "subject_user_id", "target_kind", "target_type_id", "target_id", "classification",
                "classification_rank", "target_tag_id", "reason", "expires_at", "created_by_id")
EXCEPTION_COLUMNS = ("created_at", "updated_at", "subject_kind", "subject_department_id", "subject_group_id",
                     "subject_user_id", "rule_id", "reason", "expires_at", "created_by_id")


class _Rules:
    def __init__(self, now: dt.datetime):
        self.now = now
        self.rows: list[tuple] = []

    def add(self, subject: tuple[str, int | None], target: tuple, *, reason: str,
            expires_at: dt.datetime | None = None) -> int:
        kind, subject_id = subject
        department = subject_id if kind == "department" else None
        group = subject_id if kind == "group" else None
        user = subject_id if kind == "user" else None
        target_kind, target_type, target_id, level, tag = target
        rank = CLASSIFICATION_LEVELS.index(level) if level else None
        rule_id = len(self.rows) + 1
        self.rows.append((rule_id, self.now, self.now, kind, department, group, user, target_kind, target_type,
                          target_id, level or "", rank, tag, reason, expires_at, None))
        return rule_id


def create_rules(cursor, *, datasets: int, rules: int = RULES, expired: int = EXPIRED_RULES,
                 exceptions: int = EXCEPTIONS) -> dict:
    """The deny rules and exceptions described in the module docstring; returns what was created."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    groups = _group_ids(cursor)
    types = _content_types(cursor)
    cursor.execute("SELECT max(id) FROM catalog_field")
    fields = cursor.fetchone()[0]
    cursor.execute("SELECT id FROM catalog_field WHERE dataset_id = %s ORDER BY position LIMIT 2", [DETAIL_DATASET_ID])
    detail_fields = [row[0] for row in cursor.fetchall()]
    dataset_ct, field_ct, system_ct = types["dataset"], types["field"], types["system"]
    systems = 50

    def obj(content_type: int, target_id: int) -> tuple:
        return ("object", content_type, target_id, None, None)

    out = _Rules(now)
    # --- rules reaching the reader --------------------------------------------------------------------
    restricted_rule = out.add(("everyone", None), ("classification", None, None, "restricted", None),
                              reason="Restricted data: only departments with an exception")
    sales_rules = {}
    for dataset_id in SALES_HIDDEN:
        if dataset_id <= datasets:
            sales_rules[dataset_id] = out.add(("department", SALES), obj(dataset_ct, dataset_id),
                                              reason="Not for Sales")
    for dataset_id in GROWTH_HIDDEN:
        if dataset_id <= datasets:
            out.add(("department", GROWTH), obj(dataset_ct, dataset_id), reason="Not for Growth and below")
    reader_fields = detail_fields + [1 + (i * 15_485_863) % fields for i in range(1, 9)]
    for field_id in reader_fields:
        out.add(("group", groups["team-01"]), obj(field_ct, field_id), reason="Not for team-01")
    out.add(("user", READER_ID), ("tag", None, None, None, HR_SENSITIVE_TAG), reason="HR-sensitive data",
            expires_at=now + dt.timedelta(days=90))
    out.add(("group", groups["contractors"]), ("classification", None, None, "confidential", None),
            reason="Contractors see internal data only")
    reaching_reader = len(out.rows) - 1  # all but the contractors' rule

    # --- rules reaching other people --------------------------------------------------------------------
    other_departments = [d for d in range(1, len(DEPARTMENTS) + 1) if d not in (SALES, FINANCE, GROWTH)]
    other_groups = [groups[name] for name in GROUPS[2:-1]]

    def other_subject(i: int) -> tuple[str, int]:
        choice = i % 3
        if choice == 0:
            return "department", other_departments[(i // 3) % len(other_departments)]
        if choice == 1:
            return "group", other_groups[(i // 3) % len(other_groups)]
        return "user", 1 + (i * 37) % USERS

    remaining = rules - len(out.rows)
    counts = {"dataset": 0, "field": 0, "system": 0, "tag": 0, "classification": 0}
    for i in range(remaining):
        expires = now + dt.timedelta(days=30 + i % 335) if i % 5 == 4 else None
        bucket = i % 100
        if bucket < 60:
            target, what = obj(dataset_ct, 1 + (i * 7919) % datasets), "dataset"
        elif bucket < 95:
            target, what = obj(field_ct, 1 + (i * 104_729) % fields), "field"
        elif bucket < 97:
            target, what = obj(system_ct, 1 + i % systems), "system"
        elif bucket < 99:
            target, what = ("tag", None, None, None, 1 + i % len(TAGS)), "tag"
        else:
            target = ("classification", None, None, ["confidential", "pii", "restricted"][i % 3], None)
            what = "classification"
        subject = other_subject(i)
        if what in ("system", "tag"):  # whole systems and tags only ever for single people
            subject = ("user", 1 + (i * 37) % USERS)
        counts[what] += 1
        out.add(subject, target, reason=f"Bench rule {i}: {what} for {subject[0]} {subject[1]}", expires_at=expires)
    active = len(out.rows)

    # --- expired rules ----------------------------------------------------------------------------------------
    out.add(("user", READER_ID), obj(system_ct, systems), reason="Expired: system hidden from the reader",
            expires_at=now - dt.timedelta(days=1))
    for i in range(expired - 1):
        out.add(other_subject(i), obj(dataset_ct, 1 + (i * 104_723) % datasets), reason=f"Expired rule {i}",
                expires_at=now - dt.timedelta(days=1 + i % 200))

    # --- exceptions -----------------------------------------------------------------------------------------
    exception_rows = [
        (now, now, "department", SALES, None, None, restricted_rule, "Sales works with restricted deals", None, None),
        (now, now, "department", FINANCE, None, None, restricted_rule, "Finance closes the books", None, None),
    ]
    if READER_EXCEPTED in sales_rules:
        exception_rows.append((now, now, "user", None, None, READER_ID, sales_rules[READER_EXCEPTED],
                               "The reader reconciles this one", None, None))
    first_other = reaching_reader + 2
    for i in range(exceptions):
        rule_id = first_other + (i * 97) % (active - first_other)
        kind, subject_id = ("group", other_groups[i % len(other_groups)]) if i % 2 else ("user", 1 + (i * 53) % USERS)
        expires = now - dt.timedelta(days=1) if i % 10 == 9 else None
        exception_rows.append((now, now, kind, None, subject_id if kind == "group" else None,
                               subject_id if kind == "user" else None, rule_id, f"Bench exception {i}", expires,
                               None))

    with cursor.copy(f"COPY permissions_accessrule ({', '.join(RULE_COLUMNS)}) FROM STDIN") as copy:
        for row in out.rows:
            copy.write_row(row)
    with cursor.copy(f"COPY permissions_accessruleexception ({', '.join(EXCEPTION_COLUMNS)}) FROM STDIN") as copy:
        for row in exception_rows:
            copy.write_row(row)
    for table in ("permissions_accessrule", "permissions_accessruleexception"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")
    cursor.execute("SELECT count(*) FROM permissions_accessrule WHERE expires_at IS NULL OR expires_at > now()")
    active_in_table = cursor.fetchone()[0]
    if active_in_table != rules:
        raise RuntimeError(f"{active_in_table} active rules, expected {rules}")
    return {"active_rules": active, "expired_rules": len(out.rows) - active, "exceptions": len(exception_rows),
            "rules_reaching_reader": reaching_reader, "other_rules_by_target": counts,
            "reader_hidden_field_ids": sorted(reader_fields)}


def reader_hidden_datasets(cursor, datasets: int) -> set[int]:
    """Datasets the rules hide from the reader, computed from the plan (not from the rule tables)."""
    hidden = {d for d in SALES_HIDDEN + GROWTH_HIDDEN if d <= datasets and d != READER_EXCEPTED}
    cursor.execute("SELECT dataset_id FROM catalog_dataset_tags WHERE tag_id = %s", [HR_SENSITIVE_TAG])
    return hidden | {row[0] for row in cursor.fetchall()}


AUDIT_COLUMNS = ("seq", "timestamp", "action", "actor_id", "actor_name", "object_type", "object_id", "object_repr",
                 "parent_type", "parent_id", "changes", "details", "request_id", "client_request_id", "client_ip",
                 "user_agent", "reason", "prev_hash", "record_hash")


def create_audit_history(cursor, records: int = AUDIT_HISTORY) -> None:
    """``records`` past change records of datasets, chained (after the existing head) exactly as
    ``permissions.audit`` chains them, and the chain's head row moved to the last of them."""
    from permissions.audit import GENESIS_HASH, compute_hash

    cursor.execute("SELECT seq, record_hash FROM permissions_auditrecord ORDER BY seq DESC LIMIT 1")
    head = cursor.fetchone()  # the migration's own records (the council group) come first
    last, prev = head if head else (0, GENESIS_HASH)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=records * 30)
    with cursor.copy(f"COPY permissions_auditrecord ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
        for seq in range(last + 1, last + records + 1):
            dataset_id = 1 + (seq * 7) % 500
            record = {
                "seq": seq, "timestamp": start + dt.timedelta(seconds=seq * 30), "action": "update",
                "actor_id": 1 + seq % USERS, "actor_name": f"owner{1 + seq % USERS:03d}",
                "object_type": "catalog.dataset", "object_id": str(dataset_id),
                "object_repr": f"Dataset {dataset_id}", "parent_type": "", "parent_id": "",
                "changes": {"description": {"before": f"Old text {seq}", "after": f"New text {seq}"}},
                "details": {}, "request_id": f"{seq:032x}", "client_request_id": "", "client_ip": None,
                "user_agent": "bench",
                "reason": "", "prev_hash": prev,
            }
            record["record_hash"] = prev = compute_hash(record)
            row = [record[name] for name in AUDIT_COLUMNS]
            row[AUDIT_COLUMNS.index("changes")] = json.dumps(record["changes"])
            row[AUDIT_COLUMNS.index("details")] = json.dumps(record["details"])
            copy.write_row(row)
    if records:  # the chain's head row: where the next append continues
        cursor.execute(
            """
            INSERT INTO permissions_auditchainhead (id, seq, prev_hash, record_hash) VALUES (1, %s, %s, %s)
            ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, prev_hash = excluded.prev_hash,
                                           record_hash = excluded.record_hash
            """,
            [seq, record["prev_hash"], record["record_hash"]],
        )
