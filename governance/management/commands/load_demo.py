"""manage.py load_demo — load the demo company (idempotent; safe to run on every start).

It lives in the governance app because it loads both halves: the catalog
(catalog.demo) and the governance registry built on it (governance.demo).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.demo import DemoLoadResult, load_demo
from governance.demo import (
    DRIFT_COLUMN,
    DRIFT_TABLE,
    demo_warehouse_path,
    ensure_demo_logins,
    harvest_demo_warehouse,
    load_governance_demo,
)
from ingest.demo import build_demo_dbt_tables, ingest_demo_dbt
from permissions.context import system_actor

# The audit log names this component as the actor of every change the demo makes.
DEMO_LOADER = "load_demo"

KINDS = ("departments", "people", "memberships", "systems", "tags", "datasets", "fields", "lineage edges",
         "deny rules", "business entities", "systems of record", "state definitions", "contracts")


class Command(BaseCommand):
    help = ("Load the demo company (departments, people, systems, datasets, fields, lineage, the deny rule on HR's "
            "data, systems of record, the Lead lifecycle and the lead hand-off contract), give its six demo "
            "accounts a password, printed once, and ingest the warehouse's dbt project (ingest/demo_dbt). "
            "Safe to re-run.")

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--harvest", action="store_true",
            help=(f"Then harvest the demo warehouse (the System analytics-warehouse). The first time, also drop "
                  f"{DRIFT_COLUMN} from {DRIFT_TABLE} in the warehouse file and harvest again: a breaking schema "
                  f"drift of the lead hand-off contract, with its incident. Re-running plants nothing more."))

    def handle(self, *args, **options) -> None:
        with system_actor(DEMO_LOADER, reason="Load the demo company") as audit_context, transaction.atomic():
            result = load_demo(actor=audit_context.actor)
            load_governance_demo(result, actor=audit_context.actor)
            logins = ensure_demo_logins(actor=audit_context.actor)
        self.stdout.write(summarise(result))
        self.stdout.write(describe_logins(logins))
        # The warehouse's dbt project: the tables it builds, then its artifacts, before the harvest, so
        # the harvest finds those tables registered as dbt described them.
        path = demo_warehouse_path()
        if path is not None and path.exists():
            build_demo_dbt_tables(path)
        with system_actor(DEMO_LOADER, reason="Ingest the demo warehouse's dbt project") as audit_context:
            self.stdout.write(describe_run(ingest_demo_dbt(actor=audit_context.actor)))
        if options["harvest"]:
            # After the load has committed: each harvest writes (and announces) its own changes.
            for run in harvest_demo_warehouse():
                self.stdout.write(describe_harvest(run))


def summarise(result: DemoLoadResult) -> str:
    contents = ", ".join(f"{result.total(kind)} {kind}" for kind in KINDS)
    if not result.changed:
        return f"Demo company already loaded, nothing changed: {contents}."
    created, updated = sum(result.created.values()), sum(result.updated.values())
    return f"Demo company loaded: {contents} ({created} created, {updated} updated)."


def describe_logins(logins) -> str:
    """The demo accounts: a new password is printed once; a set one is never shown again."""
    new = [login for login in logins if login.password]
    lines = []
    if new:
        lines.append("Demo logins (one per role; these passwords are shown only once):")
        lines += [f"  {login.username} / {login.password}   {login.role}" for login in new]
    kept = [login for login in logins if not login.password]
    if kept:
        lines.append("Demo logins with their passwords unchanged: "
                     + ", ".join(f"{login.username} ({login.role})" for login in kept) + ".")
    return "\n".join(lines)


def describe_run(run) -> str:
    """An ingestion run of the demo's dbt project, as a harvest run is described."""
    written = {kind: {what: n for what, n in per_kind.items() if n and what != "unchanged"}
               for kind, per_kind in run.counts.items()}
    counts = "; ".join(f"{kind} " + ", ".join(f"{n} {what}" for what, n in per_kind.items())
                       for kind, per_kind in written.items() if per_kind)
    problems = [f"\n  {line}" for line in (*run.warnings, *run.errors)]
    return f"dbt ingestion #{run.pk} of {run.project.name}: {run.status} ({counts or 'nothing changed'})." + \
        "".join(problems)


def describe_harvest(run) -> str:
    counts = "; ".join(f"{kind} " + ", ".join(f"{n} {what}" for what, n in per_kind.items() if n)
                       for kind, per_kind in run.counts.items() if any(per_kind.values()))
    changes = list(run.changes.values_list("compatibility", flat=True))
    drift = (f"{len(changes)} schema change{'s' if len(changes) > 1 else ''}, {changes.count('breaking')} breaking"
             if changes else "no schema change")
    problems = [f"\n  {line}" for line in (*run.warnings, *run.errors)]
    return f"Harvest #{run.pk} of the demo warehouse: {run.status} ({counts or 'nothing read'}); {drift}." + \
        "".join(problems)
