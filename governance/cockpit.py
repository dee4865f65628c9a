"""The admin's first page, per person: what needs them now, each entry linking to where it is acted on.

* approvals of state definitions waiting for a department they lead (or, for the council, domain
  states, whose approval it holds);
* proposed contract versions waiting for the signature of a department they lead (the council may
  sign on a department's behalf: it sees every signature still missing);
* incidents assigned to them, unacknowledged first, with the time left before escalation;
* breaking schema drift (last 30 days) and failing contracts of their departments (any membership;
  the council: all);
* recent changes to what they own (datasets they steward or their departments own, fields they own).

Every list starts from ``visible_to(user)``: an entry never names what the person may not see. The
lists are bounded (``LIMIT`` each) and read in a fixed number of queries."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

LIMIT = 10
DRIFT_DAYS = 30
CHANGED_DAYS = 7


@dataclass
class Entry:
    text: str
    url: str
    detail: str = ""
    urgent: bool = False


@dataclass
class Section:
    key: str
    title: str
    entries: list[Entry] = field(default_factory=list)
    more: int = 0  # entries beyond those listed
    empty: str = "Nothing waiting."


def _member_ids(user) -> set[int]:
    from catalog.models import DepartmentMembership

    return set(DepartmentMembership._base_manager.filter(user=user).values_list("department_id", flat=True))


def needs(user) -> list[Section]:
    from catalog.models import Department
    from permissions.council import is_council

    if not (user and user.is_authenticated):
        return []
    led = Department.led_ids_for(user)
    council = is_council(user)
    mine = led | _member_ids(user)
    return [_approvals(user, led, council), _signatures(user, led, council), _incidents(user),
            _drift(user, mine, council), _failing(user, mine, council), _changes(user, mine)]


def _bounded(section: Section, entries: list[Entry]) -> Section:
    section.entries, section.more = entries[:LIMIT], max(0, len(entries) - LIMIT)
    return section


def _approvals(user, led: set[int], council: bool) -> Section:
    from governance.choices import StateScope, VersionStatus
    from governance.models import StateDefinitionVersion

    mine = Q(definition__owner_department__in=led) | Q(definition__stakeholders__in=led)
    if council:
        mine |= Q(definition__scope=StateScope.DOMAIN)
    versions = (StateDefinitionVersion.objects.visible_to(user).filter(status=VersionStatus.PROPOSED).filter(mine)
                .distinct().select_related("definition__owner_department").prefetch_related("definition__stakeholders",
                                                                                 "approvals")
                .order_by("proposed_at", "id")[: LIMIT * 5])
    entries = []
    for version in versions:
        definition = version.definition
        approving = list(definition.stakeholders.all()) if definition.scope == StateScope.ENTERPRISE else []
        approving = approving or [definition.owner_department]
        approved = {a.department_id for a in version.approvals.all()}
        waiting = [d for d in approving if d.pk not in approved and (
            d.pk in led or council and definition.scope == StateScope.DOMAIN)]
        if waiting:
            entries.append(Entry(
                f"Approve {definition.name} v{version.number}",
                reverse("admin:governance_statedefinitionversion_change", args=[version.pk]),
                f"for {', '.join(d.name for d in waiting)}; proposed "
                f"{timesince(version.proposed_at) + ' ago' if version.proposed_at else ''}"))
    return _bounded(Section("approvals", "Approvals waiting for you"), entries)


def _signatures(user, led: set[int], council: bool) -> Section:
    from governance.choices import ContractStatus
    from governance.models import ContractVersion

    versions = ContractVersion.objects.visible_to(user).filter(status=ContractStatus.PROPOSED)
    if not council:
        versions = versions.filter(Q(producer__in=led) | Q(consumers__in=led)).distinct()
    versions = (versions.select_related("contract", "producer").prefetch_related("consumers", "signatures")
                .order_by("id")[: LIMIT * 5])
    entries = []
    for version in versions:
        parties = [version.producer, *[c for c in version.consumers.all() if c.pk != version.producer_id]]
        signed = {s.department_id for s in version.signatures.all()}
        waiting = [p for p in parties if p is not None and p.pk not in signed and (p.pk in led or council)]
        if waiting:
            entries.append(Entry(f"Sign {version.contract.name} {version.version}",
                                 reverse("admin:governance_contractversion_change", args=[version.pk]),
                                 f"for {', '.join(d.name for d in waiting)}"))
    return _bounded(Section("signatures", "Contract versions waiting for your signature"), entries)


def _incidents(user) -> Section:
    from governance.models import Incident
    from governance.models.compliance import IncidentStatus

    incidents = list(Incident.objects.visible_to(user).filter(assignee=user).exclude(status=IncidentStatus.RESOLVED)
                     .select_related("contract").order_by(F("acknowledged_at").asc(nulls_first=True),
                                                          F("ack_due_at").asc(nulls_last=True), "id")
                     [: LIMIT + 1])
    now = timezone.now()
    entries = []
    for incident in incidents:
        if incident.acknowledged_at is None and incident.ack_due_at is not None:
            late = incident.ack_due_at <= now
            detail = (f"acknowledgement overdue by {timesince(incident.ack_due_at, now)}" if late
                      else f"{timeuntil(incident.ack_due_at, now)} left to acknowledge before escalation")
        else:
            late, detail = False, f"acknowledged {timesince(incident.acknowledged_at, now)} ago" \
                if incident.acknowledged_at else "open"
        entries.append(Entry(incident.title, reverse("admin:governance_incident_change", args=[incident.pk]),
                             f"{incident.contract.name}: {detail}", urgent=incident.acknowledged_at is None))
    return _bounded(Section("incidents", "Incidents assigned to you"), entries)


def _drift(user, mine: set[int], council: bool) -> Section:
    from harvest.models import Compatibility, SchemaChange

    since = timezone.now() - datetime.timedelta(days=DRIFT_DAYS)
    changes = SchemaChange.objects.visible_to(user).filter(compatibility=Compatibility.BREAKING, detected_at__gte=since)
    if not council:
        changes = changes.filter(dataset__owner_department__in=mine)
    entries = [Entry(f"{change.get_kind_display()}: {change.dataset.qualified_name}"
                     f"{'.' + change.field_name if change.field_name else ''}",
                     reverse("admin:catalog_dataset_change", args=[change.dataset_id]),
                     f"breaking, found {timesince(change.detected_at)} ago", urgent=True)
               for change in changes.select_related("dataset").order_by("-detected_at", "-id")[: LIMIT + 1]]
    return _bounded(Section("drift", "Breaking schema drift in your departments' datasets",
                            empty=f"No breaking drift in the last {DRIFT_DAYS} days."), entries)


def _failing(user, mine: set[int], council: bool) -> Section:
    from governance.models import DataContract

    contracts = DataContract.objects.visible_to(user).filter(compliance_status__in=("failing", "error"))
    if not council:
        contracts = contracts.filter(Q(producer__in=mine) | Q(consumers__in=mine)).distinct()
    entries = [Entry(contract.name, reverse("admin:governance_datacontract_change", args=[contract.pk]),
                     contract.get_compliance_status_display()
                     + (f", checked {timesince(contract.last_checked_at)} ago" if contract.last_checked_at else ""),
                     urgent=True)
               for contract in contracts.order_by("name")[: LIMIT + 1]]
    return _bounded(Section("failing", "Failing contracts of your departments", empty="Every contract passes."),
                    entries)


def _changes(user, mine: set[int]) -> Section:
    from catalog.models import Dataset, Field

    since = timezone.now() - datetime.timedelta(days=CHANGED_DAYS)
    datasets = (Dataset.objects.visible_to(user).filter(updated_at__gte=since)
                .filter(Q(steward=user) | Q(owner_department__in=mine)).select_related("system")
                .order_by("-updated_at")[: LIMIT + 1])
    fields = (Field.objects.visible_to(user).filter(updated_at__gte=since, owner=user).select_related("dataset")
              .order_by("-updated_at")[: LIMIT + 1])
    entries = [Entry(dataset.qualified_name, reverse("admin:catalog_dataset_history", args=[dataset.pk]),
                     f"dataset in {dataset.system.name}, changed {timesince(dataset.updated_at)} ago")
               for dataset in datasets]
    entries += [Entry(f"{item.dataset.qualified_name}.{item.name}",
                      reverse("admin:catalog_field_history", args=[item.pk]),
                      f"field you own, changed {timesince(item.updated_at)} ago") for item in fields]
    return _bounded(Section("changes", "Recent changes to what you own",
                            empty=f"Nothing you own changed in the last {CHANGED_DAYS} days."), entries)
