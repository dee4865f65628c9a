"""Compiling opt-out deny rules into SQL, and explaining decisions.

Domain models declare how rules reach them with an ``AccessSpec`` (their ``access``
attribute); this module knows no domain model by name. For a model and a user,
``visible_condition`` returns one ``Q`` that the database evaluates; nothing loops
over rules in Python. The rules are compiled into literal id lists (or, for very
large sets, sub-selects over the rule tables) once per *access generation*
(``permissions.generation``): a token that triggers change with every rule,
exception, group or department membership and department-tree change. A request
reads the token once; while it is unchanged and no rule or exception has expired
since, the compiled rule sets are reused across requests.

Caches. Two kinds, both safe under threaded workers:

* per request: the token and a reader's subjects, kept in the request's own cache
  (``permissions.context.request_cache``), a new dict the server makes for each web
  request. Nothing the caller sends (its ``X-Request-ID``) scopes it. Work outside a web
  request (tasks, commands) keeps nothing and reads the token on every check.
* per process: the compiled rule sets of the last few access generations
  (``_GENERATIONS``) and, in each, the rules of up to ``MAX_READERS`` readers: bounded
  ``cachetools.LRUCache``s, read and written under ``_LOCK``. A rule set is compiled
  outside the lock (two threads may compile the same one; the first stored wins), so the
  lock is never held across a query. What is compiled is kept only under the token read just
  before (a request's remembered token is read again first): inside a transaction that has
  changed rules or memberships, that is the transaction's own token, so nothing it saw before
  it committed or rolled back is kept under the generation everybody else reads.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import BooleanField, Expression, ExpressionWrapper, Model, Q, QuerySet
from django.utils import timezone

from permissions import context, generation
from permissions.lookups import IdList


@dataclass(frozen=True)
class AccessSpec:
    """How deny rules reach a model's objects.

    targetable: rules may name its objects directly.
    containers: foreign keys to objects that contain it; hiding a container hides
        it (a nullable container left empty hides nothing).
    classification: the field holding its classification level.
    tags: the many-to-many field holding its tags.
    """

    targetable: bool = True
    containers: tuple[str, ...] = ()
    classification: str | None = None
    tags: str | None = None


NO_RULES = AccessSpec(targetable=False)


def spec_for(model: type[Model]) -> AccessSpec:
    return getattr(model, "access", NO_RULES)


def targetable_models() -> list[type[Model]]:
    return [model for model in apps.get_models() if spec_for(model).targetable and hasattr(model, "access")]


@dataclass(frozen=True)
class Subjects:
    """What a user is, for matching rule subjects."""

    user_id: int
    group_ids: tuple[int, ...]
    department_ids: tuple[int, ...]  # their departments and every ancestor of those

    def condition(self) -> Q:
        from permissions.models.access import SubjectKind

        return (
            Q(subject_kind=SubjectKind.EVERYONE)
            | Q(subject_kind=SubjectKind.USER, subject_user_id=self.user_id)
            | Q(subject_kind=SubjectKind.GROUP, subject_group_id__in=self.group_ids)
            | Q(subject_kind=SubjectKind.DEPARTMENT, subject_department_id__in=self.department_ids)
        )


def request_scoped(holder, name: str, compute):
    """``compute()``, remembered under (``name``, ``holder``'s id) for the rest of the current
    web request only (its ``request_cache``); computed every time outside a web request."""
    cache = context.request_cache()
    if cache is None:
        return compute()
    key = (name, getattr(holder, "pk", None))
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _forget_scoped(holder, name: str) -> None:
    cache = context.request_cache()
    if cache is not None:
        cache.pop((name, getattr(holder, "pk", None)), None)


def subjects_of(user) -> Subjects:
    """The user's subjects, from the cache of the current access generation when it holds them."""
    def compute() -> Subjects:
        compiled = _compiled()
        cached = compiled.cached_subjects(user) if compiled is not None else None
        return cached if cached is not None else _read_subjects(user)

    return request_scoped(user, "subjects", compute)


def _read_subjects(user) -> Subjects:
    department_model = apps.get_model(settings.ACCORD_DEPARTMENT_MODEL)
    return Subjects(
        user_id=user.pk,
        group_ids=tuple(user.groups.order_by().values_list("pk", flat=True)),
        department_ids=tuple(department_model.subject_ids_for(user)),
    )


def forget_subjects(user) -> None:
    """Forget what this request remembered about the user (after changing their memberships
    in the middle of a request; other requests see the change through the generation token)."""
    _forget_scoped(user, "subjects")
    _forget_scoped(None, "generation")
    _forget_scoped(user, "led_departments")


def active_rules(at=None) -> QuerySet:
    from permissions.models.access import AccessRule

    return AccessRule._base_manager.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at or timezone.now()))


def rules_applying_to(user, at=None, subjects: Subjects | None = None) -> QuerySet:
    """Active rules whose subject matches the user and that no active exception lifts for them."""
    from permissions.models.access import AccessRuleException

    at = at or timezone.now()
    subjects = subjects or subjects_of(user)
    lifted = AccessRuleException._base_manager.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    ).filter(subjects.condition()).values("rule_id")
    return active_rules(at).filter(subjects.condition()).exclude(pk__in=lifted)


def literal_targets_limit() -> int:
    """Up to this many targets, a rule set is compiled into literal lists (read once per
    access generation); beyond it, into sub-selects over the rule table. PostgreSQL takes a
    literal list as one array parameter, so it can be long; SQLite binds every id."""
    return 100_000 if connection.vendor == "postgresql" else 1000


class _RuleSet:
    """One set of rules, compiled for use in SQL conditions.

    Rule sets are compiled once per access generation and kept (``_compiled``): a
    person's applicable rules (usually few: most rules concern other people) and
    every active rule (for the restricted-read check) become literal id lists, so
    the SQL stays short and cheap however many rules exist. A set too large for
    literals becomes sub-selects over the rule table instead.
    """

    _serials = itertools.count(1)

    def __init__(self, rules: QuerySet):
        from django.db.models import Count, Min

        from permissions.models.access import TargetKind

        self.serial = next(self._serials)  # names this compiled set for as long as the process lives
        self.rules = rules
        self._objects: dict[int, QuerySet | IdList | set] = {}
        # Conditions built from this set, by vendor, model (and containers known visible). Only
        # ever added to, with ``setdefault`` (atomic in CPython), so threads may share it.
        self.conditions: dict[tuple, Any] = {}
        summary = list(rules.order_by().values("target_kind", "target_type_id").annotate(
            rank=Min("classification_rank"), n=Count("pk")))
        self.object_types = {row["target_type_id"] for row in summary if row["target_kind"] == TargetKind.OBJECT}
        self.has_tags = any(row["target_kind"] == TargetKind.TAG for row in summary)
        ranks = [row["rank"] for row in summary if row["target_kind"] == TargetKind.CLASSIFICATION]
        # Classification rules reduce to one number: the lowest level any of them hides.
        levels = list(settings.ACCORD_CLASSIFICATION_LEVELS)
        self.hidden_levels = levels[min(ranks):] if ranks else []
        self.empty = not summary
        self.literal = sum(row["n"] for row in summary) <= literal_targets_limit()
        if self.literal and not self.empty:
            targets = list(rules.order_by().values_list("target_kind", "target_type_id", "target_id",
                                                        "target_tag_id"))
            for kind, type_id, target_id, _ in targets:
                if kind == TargetKind.OBJECT and target_id is not None:
                    self._objects.setdefault(type_id, set()).add(target_id)
            self._objects = {type_id: IdList(ids) for type_id, ids in self._objects.items()}
            self.tag_ids = IdList(tag for kind, _, _, tag in targets if kind == TargetKind.TAG and tag)
        else:
            self.tag_ids = rules.filter(target_kind=TargetKind.TAG, target_tag_id__isnull=False).values(
                "target_tag_id")

    def object_ids(self, model: type[Model]) -> QuerySet | IdList | None:
        from permissions.models.access import TargetKind

        content_type = ContentType.objects.get_for_model(model)
        if content_type.pk not in self.object_types:
            return None
        found = self._objects.get(content_type.pk)
        if found is None:
            found = self._objects.setdefault(content_type.pk, self.rules.filter(
                target_kind=TargetKind.OBJECT, target_type=content_type, target_id__isnull=False
            ).values("target_id"))
        return found


def _one_of(path: str, values: QuerySet | IdList) -> Q:
    """``path`` is among ``values``: a literal list as one array parameter, a queryset as a sub-select."""
    return Q(**{f"{path}__{'in' if isinstance(values, QuerySet) else 'any_of'}": values})


def hidden_condition(model: type[Model], rules: QuerySet | _RuleSet, prefix: str = "") -> Q:
    """The rows of ``model`` that any of ``rules`` hides.

    Containers are followed through joins (``dataset__system_id``) rather than nested
    sub-selects, so the condition stays flat: each rule table appears once per path.
    """
    ruleset = rules if isinstance(rules, _RuleSet) else _RuleSet(rules)
    parts = _hidden_parts(model, ruleset, prefix)
    if not parts:
        return Q(pk__in=[])  # nothing can be hidden
    return Q(*parts, _connector=Q.OR)


def _hidden_parts(model: type[Model], ruleset: _RuleSet, prefix: str, visible_containers=()) -> list[Q]:
    if ruleset.empty:
        return []
    spec = spec_for(model)
    parts: list[Q] = []
    if spec.targetable and (ids := ruleset.object_ids(model)) is not None:
        parts.append(_one_of(f"{prefix}pk", ids))
    if spec.classification and ruleset.hidden_levels:
        parts.append(Q(**{f"{prefix}{spec.classification}__in": ruleset.hidden_levels}))
    if spec.tags and ruleset.has_tags:
        tag_field = model._meta.get_field(spec.tags)
        through = tag_field.remote_field.through
        # ``pk IN (SELECT …)`` rather than a correlated EXISTS: PostgreSQL hashes the few rows
        # carrying the rules' tags once (through the tag index), instead of probing per row,
        # which costs more where many rows are checked (a list's visible-field counts).
        tagged = through.objects.filter(_one_of(tag_field.m2m_reverse_field_name(), ruleset.tag_ids))
        parts.append(Q(**{f"{prefix}pk__in": tagged.values(tag_field.m2m_field_name())}))
    for name in spec.containers:
        if name in visible_containers:
            continue  # the caller reads these rows through a container the user sees
        related = model._meta.get_field(name).related_model
        parts.extend(_hidden_parts(related, ruleset, f"{prefix}{name}__"))
    return parts


def visible_condition(model: type[Model], user, visible_containers: tuple[str, ...] = ()) -> Q:
    """The SQL condition selecting the rows of ``model`` the user may view.

    ``visible_containers`` names containers (``AccessSpec.containers``) that the caller
    already knows the user sees — the fields of a dataset read through that visible
    dataset — so their conditions are left out; only for rows reached that way."""
    if not hasattr(model, "access") or user.is_superuser:
        return Q()
    ruleset = _reader_rules(user)
    if ruleset is None:
        return Q()
    key = (connection.vendor, model, visible_containers)
    hidden = ruleset.conditions.get(key)
    if hidden is None:
        parts = _hidden_parts(model, ruleset, "", visible_containers)
        hidden = Q(*parts, _connector=Q.OR) if parts else Q()
        hidden = ruleset.conditions.setdefault(key, hidden)
    return ~hidden if hidden else Q()


def restricted_flag(model: type[Model]) -> Expression | None:
    """An expression for a query on ``model``: whether some active rule hides the row from
    somebody (reads of such rows are audited); None when no active rule can restrict ``model``.

    Kept with the compiled rule set (the ORM condition, not its SQL)."""
    if not hasattr(model, "access"):
        return None
    ruleset = _every_rule(_compiled())
    key = (connection.vendor, model, "restricted")
    flag = ruleset.conditions.get(key)
    if flag is None:
        condition = hidden_condition(model, ruleset)
        flag = False if condition == Q(pk__in=[]) else ExpressionWrapper(condition, output_field=BooleanField())
        flag = ruleset.conditions.setdefault(key, flag)
    return flag or None


def _every_rule(compiled: _Compiled | None) -> _RuleSet:
    return compiled.everything if compiled is not None else _RuleSet(active_rules())


def _reader_rules(user) -> _RuleSet | None:
    """The compiled rules that apply to ``user``; ``None`` when no rule is active at all
    (then nothing about the user needs looking up)."""
    compiled, token_checked = _compiled_and_checked()
    if _every_rule(compiled).empty:
        return None
    if compiled is None:
        return _RuleSet(rules_applying_to(user))
    return compiled.reader(user, token_checked=token_checked)


# --- compiled rules, kept per access generation -------------------------------------------------

#: Guards the process-wide caches below (threaded workers share them).
_LOCK = threading.Lock()


class _Compiled:
    """Every rule set compiled for one access generation (``permissions.generation``):
    all active rules, and each reader's subjects and applicable rules as they are
    first needed. Valid until the token changes or the earliest expiry among the
    active rules and exceptions passes, whichever comes first."""

    MAX_READERS = 10_000

    def __init__(self, token: str, at):
        self.token = token
        self.at = at
        self.valid_until = _next_expiry(at)
        self.everything = _RuleSet(active_rules(at))
        self.readers: LRUCache[int, tuple[Subjects, _RuleSet]] = LRUCache(maxsize=self.MAX_READERS)

    def reader(self, user, *, token_checked: bool) -> _RuleSet:
        """The user's rules, compiled once per generation. ``token_checked``: the token was read
        in this very call, not remembered from earlier in the request (see ``_compiled``)."""
        with _LOCK:
            cached = self.readers.get(user.pk)
        if cached is None:
            subjects = _read_subjects(user)
            built = (subjects, _RuleSet(rules_applying_to(user, self.at, subjects)))
            if not token_checked and generation.current_token() != self.token:
                # A write earlier in this request's transaction (or another's commit) changed
                # who sees what since the request read the token: what was read now is not
                # this generation's, so it is used for this read only and not kept.
                return built[1]
            with _LOCK:
                cached = self.readers.setdefault(user.pk, built)
        return cached[1]

    def cached_subjects(self, user) -> Subjects | None:
        with _LOCK:
            cached = self.readers.get(user.pk)
        return cached[0] if cached is not None else None

    def fresh(self, now) -> bool:
        return self.valid_until is None or now < self.valid_until


def _next_expiry(at):
    """The first moment after ``at`` when an active rule or exception expires."""
    from django.db.models import Min

    from permissions.models.access import AccessRule, AccessRuleException

    moments = [
        model._base_manager.filter(expires_at__gt=at).aggregate(first=Min("expires_at"))["first"]
        for model in (AccessRule, AccessRuleException)
    ]
    return min((moment for moment in moments if moment is not None), default=None)


#: Compiled rule sets by (database, access generation token). Several databases in one process
#: (tests, benchmarks) each have their own.
_GENERATIONS: LRUCache[tuple[str, str], _Compiled] = LRUCache(maxsize=8)


def _compiled() -> _Compiled | None:
    """The rule sets of the current access generation (``None`` if it is unknown: then
    nothing is kept and every call compiles afresh)."""
    return _compiled_and_checked()[0]


def _compiled_and_checked() -> tuple[_Compiled | None, bool]:
    """The current generation's rule sets, and whether its token was read in this call.

    A web request reads the token once and remembers it. Anything compiled later is read from
    what the connection sees then: inside a transaction that has since changed a rule, an
    exception or a membership, that is the transaction's own state (uncommitted, perhaps
    rolled back), which the token the rest of the process uses does not stand for. So before
    anything is compiled and kept, a remembered token is read again, and the rule sets are
    kept under the token read: the transaction's own (random, never seen by anybody else, and
    never current again after a rollback) or a newer one another writer committed."""
    cache = context.request_cache()
    remembered = cache is not None and ("generation", None) in cache
    token = request_scoped(None, "generation", generation.current_token)
    if token is None:
        return None, True
    now = timezone.now()
    name = connection.settings_dict["NAME"]
    with _LOCK:
        compiled = _GENERATIONS.get((name, token))
    if compiled is not None and compiled.fresh(now):
        return compiled, not remembered
    if remembered:
        token = generation.current_token()
        if token is None:
            return None, True
        with _LOCK:
            compiled = _GENERATIONS.get((name, token))
        if compiled is not None and compiled.fresh(now):
            return compiled, True
    built = _Compiled(token, now)
    with _LOCK:
        compiled = _GENERATIONS.get((name, token))
        if compiled is None or not compiled.fresh(now):
            compiled = _GENERATIONS[name, token] = built
    return compiled, True


def forget_compiled_rules() -> None:
    """Drop every kept rule set (they are rebuilt on the next read)."""
    with _LOCK:
        _GENERATIONS.clear()
    _forget_scoped(None, "generation")


# --- explain ----------------------------------------------------------------------------------


def _rules_targeting(obj: Model, rules: QuerySet) -> list[tuple[Any, str]]:
    """(rule, how it reaches the object) for every rule in ``rules`` that hides ``obj``."""
    from permissions.models.access import TargetKind

    model = type(obj)
    spec = spec_for(model)
    found: list[tuple[Any, str]] = []
    label = f"{model._meta.verbose_name} {obj}"
    if spec.targetable:
        content_type = ContentType.objects.get_for_model(model)
        for rule in rules.filter(target_kind=TargetKind.OBJECT, target_type=content_type, target_id=obj.pk):
            found.append((rule, f"names {label}"))
    if spec.classification:
        level = getattr(obj, spec.classification)
        levels = list(settings.ACCORD_CLASSIFICATION_LEVELS)
        if level in levels:
            for rule in rules.filter(target_kind=TargetKind.CLASSIFICATION,
                                     classification_rank__lte=levels.index(level)):
                found.append((rule, f"{label} is classified {level}"))
    if spec.tags:
        tag_ids = list(getattr(obj, spec.tags).values_list("pk", flat=True))
        for rule in rules.filter(target_kind=TargetKind.TAG, target_tag_id__in=tag_ids):
            found.append((rule, f"{label} is tagged {rule.target_tag}"))
    for name in spec.containers:
        container = getattr(obj, name)
        if container is not None:
            found.extend(_rules_targeting(container, rules))
    return found


def explain(user, obj: Model) -> dict[str, Any]:
    """Can ``user`` see ``obj``, and which rules and exceptions decide it."""
    from permissions.models.access import AccessRuleException

    at = timezone.now()
    result: dict[str, Any] = {
        "user": {"id": user.pk, "username": user.get_username()},
        "object": {"type": obj._meta.label_lower, "id": obj.pk, "repr": str(obj)},
        "visible": True,
        "superuser": bool(user.is_superuser),
        "denied_by": [],
        "lifted_by_exception": [],
        "not_applicable": [],
    }
    if not user.is_active:
        result.update(visible=False, summary="Inactive accounts see nothing.")
        return result
    subjects = subjects_of(user)
    applicable_ids = set(active_rules(at).filter(subjects.condition()).values_list("pk", flat=True))
    exceptions = {
        exc.rule_id: exc
        for exc in AccessRuleException._base_manager.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .filter(subjects.condition()).select_related("subject_department", "subject_group", "subject_user")
    }
    for rule, path in _rules_targeting(obj, active_rules(at).select_related("target_tag")):
        entry = {"rule": rule.pk, "reason": rule.reason, "subject": rule.subject_label(), "reaches_object": path,
                 "expires_at": rule.expires_at}
        if rule.pk not in applicable_ids:
            result["not_applicable"].append(entry)
        elif rule.pk in exceptions:
            exc = exceptions[rule.pk]
            result["lifted_by_exception"].append(
                {**entry, "exception": exc.pk, "exception_subject": exc.subject_label(), "exception_reason": exc.reason}
            )
        else:
            result["denied_by"].append(entry)
    if user.is_superuser:
        result["summary"] = "Superusers see everything; reads of restricted objects are audited."
    elif result["denied_by"]:
        result["visible"] = False
        result["summary"] = f"Hidden by {len(result['denied_by'])} deny rule(s)."
    else:
        result["summary"] = "Visible: no active deny rule applies without an exception."
    return result
