"""The scorecard: how well each department (and the organisation) governs its data, in numbers.

Everything is counted in SQL, through the viewer's visibility: every queryset below starts from
``visible_to(viewer)``, so a number never counts what the viewer may not see (``viewer=None`` is
the daily snapshot's full view). ``facts_for`` reads a fixed number of grouped aggregates (one per
kind of object, grouped by department), whatever the size of the catalog; everything else — the
metrics, the compliance bands, the maturity stages, the trends — is arithmetic on those facts.
Definitions, bands, maturity criteria and the snapshot rules are written down in docs/scorecard.md.

Departments are counted flat: a department's numbers are what it owns itself (its datasets and
their fields, its entities, its state definitions, the contracts it produces, its systems), not
its sub-departments'. The organisation's are the sum over every department and over what no
department owns.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

#: Trend lines cover this many days.
TREND_DAYS = 90
#: Incident times (to acknowledge, to resolve) are averaged over the incidents opened this many days back.
INCIDENT_WINDOW_DAYS = 90
#: Metadata coverage a department needs for maturity stage 3.
MATURITY_COVERAGE = 80.0

#: Contract compliance bands over the share of passing rules (0-100), in the manner of Collibra's
#: data-quality scorecards: (band, lowest score in it), best first. No rule checked: "not measured".
BANDS = (("good", 95.0), ("warning", 80.0), ("poor", 0.0))

ORGANISATION = None  # the scope key of the whole organisation


def band_for(score: float | None) -> str:
    if score is None:
        return "not measured"
    return next(name for name, lowest in BANDS if score >= lowest)


# --- who may read what was computed over everything ---------------------------------------------------------------


def sees_everything(user) -> bool:
    """True for a superuser, and for an active user to whom no active deny rule applies: what was
    computed over the whole catalog (a snapshot) holds nothing hidden from them."""
    from permissions.access import request_scoped, rules_applying_to
    from permissions.visibility import can_read_catalog

    if not can_read_catalog(user):
        return False
    if user.is_superuser:
        return True
    return request_scoped(user, "sees_everything", lambda: not rules_applying_to(user).exists())


# --- the facts ------------------------------------------------------------------------------------------------------

FACT_KEYS = (
    "datasets", "datasets_with_steward", "datasets_described",
    "fields", "fields_owned", "fields_described", "fields_classified", "fields_needing_rule",
    "fields_needing_rule_covered",
    "attributes", "attributes_with_sor", "sor_conflicts",
    "states", "states_approved", "states_waiting", "states_stale_drafts",
    "cross_edges", "cross_edges_covered",
    "rules", "rules_passing",
    "incidents_open", "incidents_overdue", "incidents_acknowledged", "acknowledge_seconds",
    "incidents_resolved", "resolve_seconds",
    "connected_systems", "connected_systems_fresh", "active_contracts", "active_contracts_fresh",
    "leads",
)


@dataclass
class Facts:
    """The counts of every scope (department id, ``None`` for what no department owns), and the lists
    the pages show: per-contract compliance and the consuming departments without a contract."""

    by_department: dict[int | None, dict[str, int]]
    contracts: list[dict]
    uncovered: list[tuple[int, int]]  # (producer department id, consumer department id)

    def of(self, department_id: int | None) -> dict[str, int]:
        return self.by_department.get(department_id) or dict.fromkeys(FACT_KEYS, 0)

    def organisation(self) -> dict[str, int]:
        total = dict.fromkeys(FACT_KEYS, 0)
        for facts in self.by_department.values():
            for key in FACT_KEYS:
                total[key] += facts.get(key, 0)
        return total


def _rows(model, viewer):
    manager = model._default_manager
    return manager.all() if viewer is None else manager.visible_to(viewer)


def _seconds(duration) -> int:
    return int(duration.total_seconds()) if duration is not None else 0


def facts_for(viewer, *, at: datetime.datetime | None = None) -> Facts:
    """Every count of the scorecard, per department, as ``viewer`` sees the catalog (None: everything)."""
    from catalog.choices import Lifecycle
    from catalog.models import Dataset, DepartmentMembership, Field, LineageEdge, System
    from governance.choices import ContractStatus, DesignationStatus, VersionStatus
    from governance.models import (
        CheckResult,
        ComplianceRun,
        ContractVersion,
        DataContract,
        EntityAttribute,
        Incident,
        StateDefinition,
        StateDefinitionVersion,
        SystemOfRecord,
    )
    from governance.models.compliance import IncidentStatus, Outcome, RunStatus
    from harvest.models import HarvestRun, HarvestStatus
    from permissions.access import restricted_flag

    at = at or timezone.now()
    fresh_since = at - datetime.timedelta(hours=settings.ACCORD_SCORECARD_FRESH_HOURS)
    facts: dict[int | None, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FACT_KEYS, 0))

    def collect(rows, department_key: str, **names: str) -> None:
        for row in rows:
            scope = facts[row[department_key]]
            for fact, column in names.items():
                scope[fact] += row[column] or 0

    live = Q(lifecycle__in=[Lifecycle.DRAFT, Lifecycle.ACTIVE, Lifecycle.DEPRECATED],
             removed_from_source_at__isnull=True)
    datasets = (_rows(Dataset, viewer).filter(live).order_by().values("owner_department_id")
                .annotate(n=Count("id"), steward=Count("id", filter=Q(steward__isnull=False)),
                          described=Count("id", filter=~Q(description=""))))
    collect(datasets, "owner_department_id", datasets="n", datasets_with_steward="steward",
            datasets_described="described")

    levels = list(settings.ACCORD_SCORECARD_RULE_LEVELS)
    flag = restricted_flag(Field)
    covered = (Count("id", filter=Q(classification__in=levels) & Q(flag)) if flag not in (None, False)
               else Value(0, output_field=IntegerField()))
    fields = (_rows(Field, viewer)
              .filter(dataset__lifecycle__in=[Lifecycle.DRAFT, Lifecycle.ACTIVE, Lifecycle.DEPRECATED],
                      dataset__removed_from_source_at__isnull=True)
              .order_by().values("dataset__owner_department_id")
              .annotate(n=Count("id"), owned=Count("id", filter=Q(owner__isnull=False, owner_department__isnull=False)),
                        described=Count("id", filter=~Q(description="")),
                        classified=Count("id", filter=~Q(classification="internal")),
                        needing=Count("id", filter=Q(classification__in=levels)), covered=covered))
    collect(fields, "dataset__owner_department_id", fields="n", fields_owned="owned", fields_described="described",
            fields_classified="classified", fields_needing_rule="needing", fields_needing_rule_covered="covered")

    designations = _rows(SystemOfRecord, viewer)
    active = designations.filter(status=DesignationStatus.ACTIVE)
    systems_named = (designations.filter(attribute=OuterRef("pk"),
                                         status__in=[DesignationStatus.ACTIVE, DesignationStatus.PROPOSED])
                     .order_by().values("attribute").annotate(n=Count("system", distinct=True)).values("n"))
    attributes = (_rows(EntityAttribute, viewer)
                  .annotate(has_sor=Exists(active.filter(attribute=OuterRef("pk")))
                            | Exists(active.filter(entity=OuterRef("entity"), attribute__isnull=True)),
                            systems=Coalesce(Subquery(systems_named), 0))
                  .order_by().values("entity__owner_department_id")
                  .annotate(n=Count("id"), sor=Count("id", filter=Q(has_sor=True)),
                            conflicts=Count("id", filter=Q(systems__gt=1))))
    collect(attributes, "entity__owner_department_id", attributes="n", attributes_with_sor="sor",
            sor_conflicts="conflicts")

    stale_before = at - datetime.timedelta(days=settings.ACCORD_SCORECARD_STALE_DRAFT_DAYS)
    versions = StateDefinitionVersion._base_manager.filter(definition=OuterRef("pk"))  # seen with their definition
    states = (_rows(StateDefinition, viewer)
              .annotate(approved=Exists(versions.filter(status=VersionStatus.APPROVED)),
                        waiting=Exists(versions.filter(status=VersionStatus.PROPOSED)),
                        stale=Exists(versions.filter(status=VersionStatus.DRAFT, updated_at__lt=stale_before)))
              .order_by().values("owner_department_id")
              .annotate(n=Count("id"), approved_n=Count("id", filter=Q(approved=True)),
                        waiting_n=Count("id", filter=Q(waiting=True)), stale_n=Count("id", filter=Q(stale=True))))
    collect(states, "owner_department_id", states="n", states_approved="approved_n", states_waiting="waiting_n",
            states_stale_drafts="stale_n")

    contract_covers = ContractVersion._base_manager.filter(
        status=ContractStatus.ACTIVE, producer=OuterRef("source__owner_department"),
        consumers=OuterRef("target__owner_department"), datasets=OuterRef("source"))
    cross = (_rows(LineageEdge, viewer)
             .filter(source_field__isnull=True, source__owner_department__isnull=False,
                     target__owner_department__isnull=False)
             .exclude(source__owner_department=F("target__owner_department"))
             .annotate(covered=Exists(contract_covers)))
    collect(cross.order_by().values("source__owner_department_id")
            .annotate(n=Count("id"), covered_n=Count("id", filter=Q(covered=True))),
            "source__owner_department_id", cross_edges="n", cross_edges_covered="covered_n")
    uncovered = sorted(set(cross.filter(covered=False).order_by()
                           .values_list("source__owner_department_id", "target__owner_department_id").distinct()))

    latest_run = (ComplianceRun._base_manager.filter(contract_version=OuterRef("run__contract_version"),
                                                     status=RunStatus.COMPLETED)
                  .order_by("-scheduled_for", "-id").values("id")[:1])
    contract_rows = list(
        _rows(CheckResult, viewer)
        .filter(run__contract_version__status=ContractStatus.ACTIVE, run_id=Subquery(latest_run))
        .order_by().values(contract_id=F("run__contract_version__contract_id"),
                           contract=F("run__contract_version__contract__name"),
                           slug=F("run__contract_version__contract__slug"),
                           producer_id=F("run__contract_version__contract__producer_id"))
        .annotate(rules=Count("id"), passing=Count("id", filter=Q(status=Outcome.PASS))))
    collect(contract_rows, "producer_id", rules="rules", rules_passing="passing")

    since = at - datetime.timedelta(days=INCIDENT_WINDOW_DAYS)
    to_acknowledge = ExpressionWrapper(F("acknowledged_at") - F("created_at"), output_field=DurationField())
    to_resolve = ExpressionWrapper(F("resolved_at") - F("created_at"), output_field=DurationField())
    acknowledged = Q(acknowledged_at__isnull=False, created_at__gte=since)
    resolved = Q(status=IncidentStatus.RESOLVED, resolved_at__isnull=False, created_at__gte=since)
    incidents = list(
        _rows(Incident, viewer).order_by().values("contract__producer_id")
        .annotate(open_n=Count("id", filter=~Q(status=IncidentStatus.RESOLVED)),
                  overdue=Count("id", filter=Q(status=IncidentStatus.OPEN, ack_due_at__lt=at)),
                  acknowledged_n=Count("id", filter=acknowledged), ack_time=Sum(to_acknowledge, filter=acknowledged),
                  resolved_n=Count("id", filter=resolved), resolve_time=Sum(to_resolve, filter=resolved)))
    for row in incidents:
        row["ack_time"], row["resolve_time"] = _seconds(row["ack_time"]), _seconds(row["resolve_time"])
    collect(incidents, "contract__producer_id", incidents_open="open_n", incidents_overdue="overdue",
            incidents_acknowledged="acknowledged_n", acknowledge_seconds="ack_time",
            incidents_resolved="resolved_n", resolve_seconds="resolve_time")

    last_harvest = (_rows(HarvestRun, viewer)
                    .filter(system=OuterRef("pk"), status__in=[HarvestStatus.SUCCEEDED, HarvestStatus.PARTIAL])
                    .order_by("-finished_at").values("finished_at")[:1])
    systems = (_rows(System, viewer).exclude(connection_engine="").annotate(harvested=Subquery(last_harvest))
               .order_by().values("owner_department_id")
               .annotate(n=Count("id"), fresh=Count("id", filter=Q(harvested__gte=fresh_since))))
    collect(systems, "owner_department_id", connected_systems="n", connected_systems_fresh="fresh")

    active_version = ContractVersion._base_manager.filter(contract=OuterRef("pk"), status=ContractStatus.ACTIVE)
    checked = (_rows(DataContract, viewer).filter(Exists(active_version)).order_by().values("producer_id")
               .annotate(n=Count("id"), fresh=Count("id", filter=Q(last_checked_at__gte=fresh_since))))
    collect(checked, "producer_id", active_contracts="n", active_contracts_fresh="fresh")

    leads = (DepartmentMembership._base_manager.filter(role="lead").order_by().values("department_id")
             .annotate(n=Count("id")))
    collect(leads, "department_id", leads="n")

    for row in contract_rows:
        row["score"] = _percent(row["passing"], row["rules"])
        row["band"] = band_for(row["score"])
    contract_rows.sort(key=lambda row: row["contract"])
    return Facts(dict(facts), contract_rows, uncovered)


# --- metrics ---------------------------------------------------------------------------------------------------------


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Metric:
    key: str
    group: str
    label: str
    unit: str  # "percent", "count" or "seconds"
    value: Callable[[dict], float | int | None]
    parts: tuple[str, str] | None = None  # (numerator fact, denominator fact) of a percentage
    higher_is_better: bool = True


def _ratio(key, group, label, part, whole) -> Metric:
    return Metric(key, group, label, "percent", lambda f: _percent(f.get(part, 0), f.get(whole, 0)), (part, whole))


def _count(key, group, label, fact, *, higher_is_better=False) -> Metric:
    return Metric(key, group, label, "count", lambda f: f.get(fact, 0), higher_is_better=higher_is_better)


def _mean(key, group, label, total, count) -> Metric:
    return Metric(key, group, label, "seconds",
                  lambda f: round(f.get(total, 0) / f[count]) if f.get(count) else None, higher_is_better=False)


METRICS: tuple[Metric, ...] = (
    _ratio("ownership.datasets", "Ownership", "Datasets with a steward", "datasets_with_steward", "datasets"),
    _ratio("ownership.fields", "Ownership", "Fields with an owner person and department", "fields_owned", "fields"),
    _ratio("description.datasets", "Description", "Datasets described", "datasets_described", "datasets"),
    _ratio("description.fields", "Description", "Fields described", "fields_described", "fields"),
    _ratio("classification.fields", "Classification", "Fields classified (other than the default 'internal')",
           "fields_classified", "fields"),
    _ratio("classification.rules", "Classification", "Sensitive fields covered by a deny rule",
           "fields_needing_rule_covered", "fields_needing_rule"),
    _ratio("sor.attributes", "Systems of record", "Entity attributes with an active system of record",
           "attributes_with_sor", "attributes"),
    _count("sor.conflicts", "Systems of record", "Attributes whose designations name several systems",
           "sor_conflicts"),
    _ratio("states.approved", "State definitions", "States with an approved definition", "states_approved", "states"),
    _count("states.waiting", "State definitions", "States with a version waiting for approval", "states_waiting"),
    _count("states.stale_drafts", "State definitions", "States with a stale draft", "states_stale_drafts"),
    _ratio("contracts.coverage", "Contract coverage", "Cross-department lineage edges covered by an active contract",
           "cross_edges_covered", "cross_edges"),
    _ratio("compliance.score", "Contract compliance", "Passing rules of active contracts (latest run)",
           "rules_passing", "rules"),
    _count("incidents.open", "Incidents", "Open incidents", "incidents_open"),
    _count("incidents.overdue", "Incidents", "Incidents past their acknowledgement deadline", "incidents_overdue"),
    _mean("incidents.time_to_acknowledge", "Incidents", "Mean time to acknowledge", "acknowledge_seconds",
          "incidents_acknowledged"),
    _mean("incidents.time_to_resolve", "Incidents", "Mean time to resolve", "resolve_seconds", "incidents_resolved"),
    _ratio("freshness.harvests", "Freshness", "Connected systems harvested recently", "connected_systems_fresh",
           "connected_systems"),
    _ratio("freshness.checks", "Freshness", "Active contracts checked recently", "active_contracts_fresh",
           "active_contracts"),
)
METRIC_KEYS = tuple(metric.key for metric in METRICS)


# --- maturity --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    text: str
    met: Callable[[dict], bool]


def _at_least(metric_key: str, share: float) -> Callable[[dict], bool]:
    metric = next(m for m in METRICS if m.key == metric_key)
    return lambda f: (metric.value(f) or 0) >= share


def _all(part: str, whole: str) -> Callable[[dict], bool]:
    return lambda f: f.get(part, 0) == f.get(whole, 0)


#: The DataOps maturity stages: a department is at the highest stage whose criteria, and every lower
#: stage's, it meets. Shown next to the stage on every page (and in docs/scorecard.md).
STAGES: tuple[tuple[int, str, tuple[Criterion, ...]], ...] = (
    (1, "Registered", (
        Criterion("owns at least one registered dataset", lambda f: f["datasets"] > 0),
        Criterion("has a lead", lambda f: f["leads"] > 0),
    )),
    (2, "Authoritative", (
        Criterion("has business entities with attributes", lambda f: f["attributes"] > 0),
        Criterion("every attribute of its entities has an active system of record",
                  _all("attributes_with_sor", "attributes")),
        Criterion("no attribute's designations name several systems", lambda f: f["sor_conflicts"] == 0),
        Criterion("owns state definitions, each with an approved version",
                  lambda f: f["states"] > 0 and f["states_approved"] == f["states"]),
    )),
    (3, "Described", tuple(
        Criterion(f"{label} at least {MATURITY_COVERAGE:.0f}%", _at_least(key, MATURITY_COVERAGE))
        for key, label in (("ownership.datasets", "datasets with a steward"),
                           ("ownership.fields", "fields with an owner"),
                           ("description.datasets", "datasets described"),
                           ("description.fields", "fields described"),
                           ("classification.fields", "fields classified")))),
    (4, "Contracted", (
        Criterion("an active contract with every department consuming its data (every cross-department "
                  "lineage edge from its datasets covered)", _all("cross_edges_covered", "cross_edges")),
        Criterion("produces at least one active contract", lambda f: f["active_contracts"] > 0),
        Criterion("every active contract it produces checked recently",
                  _all("active_contracts_fresh", "active_contracts")),
    )),
    (5, "Managed", (
        Criterion(f"contract compliance in the 'good' band (at least {BANDS[0][1]:.0f}% of rules passing)",
                  _at_least("compliance.score", BANDS[0][1])),
        Criterion("no incident past its acknowledgement deadline", lambda f: f["incidents_overdue"] == 0),
        Criterion("every sensitive field covered by a deny rule",
                  _all("fields_needing_rule_covered", "fields_needing_rule")),
        Criterion("every connected system harvested recently", _all("connected_systems_fresh", "connected_systems")),
    )),
)


def maturity(facts: dict) -> dict:
    """The stage reached, each stage's criteria with whether they are met, and what the next stage lacks."""
    stage, stages = 0, []
    for number, name, criteria in STAGES:
        checked = [{"criterion": c.text, "met": bool(c.met(facts))} for c in criteria]
        if stage == number - 1 and all(item["met"] for item in checked):
            stage = number
        stages.append({"stage": number, "name": name, "criteria": checked})
    following = next((s for s in stages if s["stage"] == stage + 1), None)
    return {
        "stage": stage,
        "name": next((s["name"] for s in stages if s["stage"] == stage), "Not registered"),
        "stages": stages,
        "missing_for_next": [item["criterion"] for item in following["criteria"] if not item["met"]]
        if following else [],
    }


# --- the scorecard as a viewer reads it ----------------------------------------------------------------------------


def last_council_meeting(today: datetime.date) -> datetime.date | None:
    from governance.models import CouncilMeeting

    return (CouncilMeeting.objects.filter(held_on__lte=today).order_by("-held_on")
            .values_list("held_on", flat=True).first())


def _metrics(facts: dict, history: list[tuple[datetime.date, dict]] | None,
             meeting: datetime.date | None) -> list[dict]:
    at_meeting = None
    if history is not None and meeting is not None:
        at_meeting = next((snapshot for day, snapshot in reversed(history) if day <= meeting), None)
    rows = []
    for metric in METRICS:
        value = metric.value(facts)
        row = {"key": metric.key, "group": metric.group, "label": metric.label, "unit": metric.unit, "value": value,
               "higher_is_better": metric.higher_is_better}
        if metric.parts:
            row["numerator"], row["denominator"] = facts.get(metric.parts[0], 0), facts.get(metric.parts[1], 0)
        if metric.key == "compliance.score":
            row["band"] = band_for(value)
        if history is None:
            row["trend"] = None
            row["change_since_meeting"] = None
        else:
            row["trend"] = [{"day": day.isoformat(), "value": metric.value(snapshot)} for day, snapshot in history]
            before = metric.value(at_meeting) if at_meeting is not None else None
            row["change_since_meeting"] = (round(value - before, 1) if value is not None and before is not None
                                           else None)
        rows.append(row)
    return rows


def scorecard(viewer, *, department_slug: str | None = None, today: datetime.date | None = None) -> dict | None:
    """The scorecard as ``viewer`` may read it: the organisation and every department (or only the one
    named by ``department_slug``; None if there is none), each metric with its trend and change since
    the last council meeting where the viewer may read snapshots (``sees_everything``)."""
    from catalog.models import Department
    from governance.models import ScorecardSnapshot

    now = timezone.now()
    today = today or timezone.localdate(now)
    departments = list(Department.objects.visible_to(viewer).order_by("name").values("id", "name", "slug"))
    names = {d["id"]: d["name"] for d in departments}
    if department_slug is not None:
        departments = [d for d in departments if d["slug"] == department_slug]
        if not departments:
            return None
    facts = facts_for(viewer, at=now)
    trusted = sees_everything(viewer)
    meeting = last_council_meeting(today)
    histories: dict[int | None, list[tuple[datetime.date, dict]]] | None = None
    if trusted:
        histories = defaultdict(list)
        since = today - datetime.timedelta(days=TREND_DAYS)
        wanted = ScorecardSnapshot.objects.visible_to(viewer).filter(day__gte=since)
        if department_slug is not None:
            wanted = wanted.filter(department_id=departments[0]["id"])
        for day, department_id, snapshot in wanted.order_by("day").values_list("day", "department_id", "facts"):
            histories[department_id].append((day, snapshot))

    def history(scope):
        return None if histories is None else histories.get(scope, [])

    rows = []
    for department in departments:
        own = facts.of(department["id"])
        rows.append({
            "slug": department["slug"], "name": department["name"], "facts": own,
            "metrics": _metrics(own, history(department["id"]), meeting),
            "maturity": maturity(own),
            "contracts": [{key: row[key] for key in ("slug", "contract", "rules", "passing", "score", "band")}
                          for row in facts.contracts if row["producer_id"] == department["id"]],
            "consumers_without_contract": sorted(names.get(consumer, "") for producer, consumer in facts.uncovered
                                                 if producer == department["id"]),
        })
    result = {
        "generated_at": now.isoformat(), "trends_shown": trusted, "trend_days": TREND_DAYS,
        "last_council_meeting": meeting.isoformat() if meeting else None,
        "bands": [{"band": name, "from": lowest} for name, lowest in BANDS],
        "departments": rows,
    }
    if department_slug is None:
        organisation = facts.organisation()
        result["organisation"] = {
            "facts": organisation, "metrics": _metrics(organisation, history(ORGANISATION), meeting),
            "contracts": [{key: row[key] for key in ("slug", "contract", "rules", "passing", "score", "band")}
                          for row in facts.contracts],
        }
    return result


def csv_rows(card: dict) -> list[list]:
    """One row per scope and metric: what the CSV export holds."""
    header = ["scope", "department", "group", "metric", "label", "unit", "value", "numerator", "denominator",
              "band", "change_since_meeting", "maturity_stage"]
    rows = [header]
    scopes = []
    if "organisation" in card:
        scopes.append(("organisation", "", card["organisation"], ""))
    scopes += [("department", d["slug"], d, d["maturity"]["stage"]) for d in card["departments"]]
    for scope, slug, data, stage in scopes:
        for metric in data["metrics"]:
            rows.append([scope, slug, metric["group"], metric["key"], metric["label"], metric["unit"],
                         "" if metric["value"] is None else metric["value"], metric.get("numerator", ""),
                         metric.get("denominator", ""), metric.get("band", ""),
                         "" if metric["change_since_meeting"] is None else metric["change_since_meeting"], stage])
    return rows


# --- daily snapshots -----------------------------------------------------------------------------------------------


def take_snapshots(*, day: datetime.date | None = None) -> int:
    """Write (or rewrite) the day's snapshots with full visibility: the organisation and every
    department. Idempotent per day: a rerun replaces the day's facts. Prunes snapshots older than
    ``ACCORD_SCORECARD_RETENTION_DAYS``. Returns how many snapshots the day has."""
    from catalog.models import Department
    from governance.models import ScorecardSnapshot

    now = timezone.now()
    day = day or timezone.localdate(now)
    facts = facts_for(None, at=now)
    scopes = {ORGANISATION: facts.organisation()}
    scopes.update({pk: facts.of(pk) for pk in Department._base_manager.values_list("pk", flat=True)})
    with transaction.atomic():
        for department_id, counts in scopes.items():
            ScorecardSnapshot.objects.update_or_create(
                day=day, department_id=department_id, defaults={"facts": counts, "computed_at": now})
        keep_from = day - datetime.timedelta(days=settings.ACCORD_SCORECARD_RETENTION_DAYS)
        ScorecardSnapshot.objects.filter(day__lt=keep_from).delete()
    return len(scopes)


def department_choices(viewer) -> list[dict]:
    from catalog.models import Department

    return list(Department.objects.visible_to(viewer).order_by("name").values("slug", "name"))
