"""Governance references rendered through one reader's visibility.

Governance objects name catalog objects: a contract covers datasets and its terms
describe their fields, a state's criteria test fields of its workflow's dataset, a
compliance result's message lists fields, a run counts its results. Whatever reads a
governance object for a person — the API serializers, exports, ODCS documents, webhook
payloads, the admin — renders those references through a ``Redactor`` for that person,
so nothing the person may not see is named, counted or identified
(docs/permissions.md, "What a partly restricted reader sees"):

* a reference the reader may not see is left out; where leaving it out would change the
  meaning (a terms document, a criterion, a count, a list of failing rules), it is
  replaced by a placeholder that names neither the object nor its id: ``{"hidden": n}``
  in structured data, "n fields you cannot see" in text;
* counts count what the reader sees, and add ``"hidden": n`` for the rest.

Everything is decided in SQL, one query per kind of reference for a whole response: a
caller *notes* everything it is about to render (``note_*``, for a page of objects), and
the first question resolves all that was noted. A ``Redactor`` lives for one response
(or one payload) and is never shared between readers.

Typical use outside the API serializers::

    redactor = Redactor(user)
    redactor.note_terms(versions)                     # a page of contract versions
    for version in versions:
        terms = redactor.terms(version.terms, contract_id=version.contract_id)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Count, Q

from permissions.api.serializers import ReaderVisibility
from permissions.visibility import visibility_filter

PLACEHOLDER_KEY = "hidden"


def placeholder(count: int = 1) -> dict[str, int]:
    """What stands where ``count`` objects the reader may not see would be: ``{"hidden": count}``."""
    return {PLACEHOLDER_KEY: count}


def is_placeholder(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {PLACEHOLDER_KEY}


def hidden_phrase(count: int, noun: str) -> str:
    """"1 field you cannot see", "2 fields you cannot see"."""
    return f"{count} {noun if count == 1 else noun + 's'} you cannot see"


def for_context(context: dict) -> Redactor:
    """The ``Redactor`` of the response a serializer context belongs to (made on first use,
    for the request's user; it also answers the brief related fields' questions)."""
    found = context.get("reader_visibility")
    if isinstance(found, Redactor):
        return found
    request = context.get("request")
    redactor = Redactor(getattr(request, "user", None))
    if found is not None:
        redactor.adopt(found)
    context["reader_visibility"] = redactor
    return redactor


def visible_ids(user, references: Iterable[tuple[type, int]]) -> dict[type, set[int]]:
    """Of ``(model, id)`` references, the ids per model that ``user`` may see (one query per model)."""
    redactor = Redactor(user)
    by_model: dict[type, set[int]] = defaultdict(set)
    for model, pk in references:
        by_model[model].add(pk)
    for model, ids in by_model.items():
        redactor.note(model, ids)
    return {model: redactor.visible_ids(model, ids) for model, ids in by_model.items()}


class Redactor(ReaderVisibility):
    """One reader's view of the catalog objects that governance objects refer to.

    ``user`` None is a system component (a task writing for nobody in particular): it
    sees everything. Superusers see everything too.
    """

    def __init__(self, user):
        super().__init__(user)
        self._hidden_fields: dict[int, frozenset[str]] = {}  # dataset id → names of its hidden fields
        self._pending_field_datasets: set[int] = set()
        self._contract_datasets: dict[int, list[tuple[int, str]]] = {}  # contract → (dataset id, qualified name)
        self._pending_contracts: set[int] = set()
        self._named_datasets: dict[str, list[int]] = {}  # qualified name → dataset ids
        self._pending_names: set[str] = set()
        self._states: dict[int, list[tuple[int, str]]] = {}  # contract version → (state id, label)
        self._pending_versions: set[int] = set()
        self._workflow_datasets: dict[int, int] = {}  # state definition → its workflow's dataset
        self._pending_definitions: set[int] = set()
        self._results: dict[int, dict[str, Any]] = {}  # run → visible keys and counts, all counts
        self._pending_runs: set[int] = set()
        self._restricted: bool | None = None

    def adopt(self, other: ReaderVisibility) -> None:
        """Take over what another ``ReaderVisibility`` of the same reader already knows."""
        self._known.update(other._known)
        for model, ids in other._pending.items():
            self._pending.setdefault(model, set()).update(ids)

    @property
    def restricted(self) -> bool:
        """Whether any deny rule hides any catalog object from the reader. Every rule that
        reaches a dataset or a system reaches their fields too, so the fields' condition
        decides; when it is empty, nothing needs redacting (and nothing is queried)."""
        if self._restricted is None:
            from catalog.models import Field

            self._restricted = not self.sees_everything and visibility_filter(Field, self.user) != Q()
        return self._restricted

    # --- fields hidden inside datasets ---------------------------------------------------------

    def note_datasets(self, dataset_ids: Iterable[int | None]) -> None:
        """Datasets whose hidden fields will be asked about (``hidden_field_names``)."""
        if self.restricted:
            self._pending_field_datasets.update(pk for pk in dataset_ids if pk is not None
                                                and pk not in self._hidden_fields)

    def hidden_field_names(self, dataset_id: int | None) -> frozenset[str]:
        """The names of the fields of a dataset that the reader may not see (all of them when
        the dataset itself is hidden)."""
        if dataset_id is None or not self.restricted:
            return frozenset()
        if dataset_id not in self._hidden_fields:
            from catalog.models import Field

            self.note_datasets([dataset_id])
            pending, self._pending_field_datasets = self._pending_field_datasets, set()
            found: dict[int, set[str]] = defaultdict(set)
            fields = Field._base_manager.filter(dataset_id__in=pending)
            # Not ``exclude(visibility_filter(...))``, which excludes nothing when the filter is empty.
            hidden = fields.exclude(pk__in=fields.filter(visibility_filter(Field, self.user)).values("pk"))
            for pk, name in hidden.values_list("dataset_id", "name"):
                found[pk].add(name)
            self._hidden_fields.update({pk: frozenset(found[pk]) for pk in pending})
        return self._hidden_fields[dataset_id]

    # --- contract terms ------------------------------------------------------------------------

    def note_terms(self, versions: Iterable[Any]) -> None:
        """Contract versions (or anything with ``terms`` and ``contract_id``) about to be rendered."""
        if not self.restricted:
            return
        for version in versions:
            if version.contract_id not in self._contract_datasets:
                self._pending_contracts.add(version.contract_id)
            self._pending_names.update(name for name in _object_names(version.terms)
                                       if name not in self._named_datasets)

    def _resolve_terms(self) -> None:
        from catalog.models import Dataset
        from governance.models import DataContract

        if self._pending_contracts:
            pending, self._pending_contracts = self._pending_contracts, set()
            rows = DataContract.datasets.through.objects.filter(datacontract_id__in=pending).values_list(
                "datacontract_id", "dataset_id", "dataset__qualified_name").order_by("dataset_id")
            found: dict[int, list[tuple[int, str]]] = defaultdict(list)
            for contract_id, dataset_id, qualified_name in rows:
                found[contract_id].append((dataset_id, qualified_name))
            self._contract_datasets.update({pk: found[pk] for pk in pending})
            self.note(Dataset, (pk for rows in found.values() for pk, _ in rows))
            self.note_datasets(pk for rows in found.values() for pk, _ in rows)
        if self._pending_names:
            pending_names, self._pending_names = self._pending_names, set()
            found_names: dict[str, list[int]] = defaultdict(list)
            rows = Dataset._base_manager.filter(qualified_name__in=pending_names).values_list(
                "qualified_name", "pk").order_by("pk")
            for qualified_name, pk in rows:
                found_names[qualified_name].append(pk)
            self._named_datasets.update({name: found_names[name] for name in pending_names})
            self.note(Dataset, (pk for ids in found_names.values() for pk in ids))
            self.note_datasets(pk for ids in found_names.values() for pk in ids)

    def _schema_dataset(self, obj: Mapping, contract_id: int | None) -> tuple[bool, int | None]:
        """(hidden, the visible dataset it describes) for a schema object of the terms: the
        contract's dataset it matches the way the checks match it (physical name or name is the
        qualified name, else its last part); else any dataset with that qualified name."""
        from catalog.models import Dataset

        names = [name for name in (obj.get("physical_name"), obj.get("name")) if isinstance(name, str) and name]
        covered = self._contract_datasets.get(contract_id, [])
        match = next((pk for name in names for pk, qualified in covered if qualified == name), None)
        if match is None:
            match = next((pk for name in names for pk, qualified in covered
                          if qualified.split(".")[-1] == name), None)
        if match is not None:
            return (False, match) if self.is_visible(Dataset, match) else (True, None)
        candidates = [pk for name in names for pk in self._named_datasets.get(name, [])]
        if not candidates:
            return False, None  # no registered dataset: nothing to hide
        visible = sorted(self.visible_ids(Dataset, candidates))
        return (False, visible[0]) if visible else (True, None)

    def terms(self, terms: Any, *, contract_id: int | None) -> Any:
        """The terms as the reader may see them: schema objects describing datasets they may not
        see, fields they may not see, and quality rules on either are replaced by one
        ``{"hidden": n}`` at the end of their list."""
        return self._redact_terms(terms, contract_id)[0]

    def hidden_terms_words(self, terms: Any, *, contract_id: int | None) -> tuple[set[str], set[str]]:
        """(names of hidden schema objects, ``object.field`` labels of hidden fields) in the terms:
        what a text about the terms (a change list) must not say."""
        return self._redact_terms(terms, contract_id)[1]

    def _redact_terms(self, terms: Any, contract_id: int | None) -> tuple[Any, tuple[set[str], set[str]]]:
        if not self.restricted or not isinstance(terms, dict):
            return terms, (set(), set())
        self.note_terms([_TermsRef(terms, contract_id)])
        self._resolve_terms()
        schema = terms.get("schema")
        hidden_objects: set[str] = set()
        hidden_labels: set[str] = set()
        hidden_fields: dict[str, set[str]] = {}
        column_words: dict[str, frozenset[str]] = {}
        redacted = dict(terms)
        if isinstance(schema, list):
            shown, hidden_count = [], 0
            for obj in schema:
                if not isinstance(obj, dict):
                    shown.append(obj)
                    continue
                hidden, dataset_id = self._schema_dataset(obj, contract_id)
                name = obj.get("name")
                if hidden:
                    hidden_count += 1
                    hidden_objects.update(n for n in (name, obj.get("physical_name")) if isinstance(n, str) and n)
                    continue
                columns = self.hidden_field_names(dataset_id)
                column_words[name] = columns
                # Every hidden column of the object, also one the terms no longer hold (a removed field).
                hidden_labels.update(f"{name}.{column}" for column in columns)
                if columns and isinstance(obj.get("fields"), list):
                    kept, dropped = [], 0
                    for spec in obj["fields"]:
                        if isinstance(spec, dict) and ({spec.get("physical_name"), spec.get("name")} & columns):
                            dropped += 1
                            hidden_fields.setdefault(name, set()).add(spec.get("name"))
                            hidden_labels.add(f"{name}.{spec.get('name')}")
                            continue
                        kept.append(spec)
                    obj = {**obj, "fields": kept + ([placeholder(dropped)] if dropped else [])}
                shown.append(obj)
            redacted["schema"] = shown + ([placeholder(hidden_count)] if hidden_count else [])
        quality = terms.get("quality")
        if isinstance(quality, list) and (hidden_objects or hidden_fields or any(column_words.values())):
            kept, dropped = [], 0
            for rule in quality:
                if isinstance(rule, dict) and self._rule_hidden(rule, hidden_objects, hidden_fields, column_words):
                    dropped += 1
                    continue
                kept.append(rule)
            redacted["quality"] = kept + ([placeholder(dropped)] if dropped else [])
        return redacted, (hidden_objects, hidden_labels)

    @staticmethod
    def _rule_hidden(rule: Mapping, hidden_objects: set[str], hidden_fields: dict[str, set[str]],
                     column_words: dict[str, frozenset[str]]) -> bool:
        obj = rule.get("object")
        if obj in hidden_objects:
            return True
        field = rule.get("field")
        if field and (field in hidden_fields.get(obj, ()) or field in column_words.get(obj, ())):
            return True
        query = (rule.get("params") or {}).get("query") if isinstance(rule.get("params"), dict) else None
        words = set(column_words.get(obj, ())) | hidden_objects
        return isinstance(query, str) and any(_mentions(query, word) for word in words)

    def changes(self, changes: Any, *, terms: Any, contract_id: int | None) -> Any:
        """A version's change list (``[{"class", "change"}]``) without the changes that name a
        schema object or field the reader may not see (one ``{"hidden": n}`` at the end)."""
        if not self.restricted or not isinstance(changes, list):
            return changes
        objects, labels = self.hidden_terms_words(terms, contract_id=contract_id)
        from catalog.models import Dataset

        covered = self._contract_datasets.get(contract_id, [])
        hidden_ids = {pk for pk, _ in covered} - self.visible_ids(Dataset, {pk for pk, _ in covered})
        words = objects | labels | {qualified for pk, qualified in covered if pk in hidden_ids}
        if not words:
            return changes

        def hidden(text: str) -> bool:
            # A hidden object is named by ``object.field`` too ("type of targets.name changed").
            return (any(_mentions(text, word) for word in words)
                    or any(re.search(rf"(?<![\w.]){re.escape(word)}\.\w", text) for word in objects if word))

        kept = [change for change in changes
                if not (isinstance(change, dict) and hidden(str(change.get("change", ""))))]
        dropped = len(changes) - len(kept)
        return kept + ([placeholder(dropped)] if dropped else [])

    # --- state criteria ------------------------------------------------------------------------

    def note_definitions(self, definition_ids: Iterable[int]) -> None:
        """State definitions whose versions' criteria are about to be rendered."""
        if self.restricted:
            self._pending_definitions.update(pk for pk in definition_ids if pk not in self._workflow_datasets)

    def workflow_dataset(self, definition_id: int) -> int | None:
        """The dataset the criteria of a state definition are written over."""
        if definition_id not in self._workflow_datasets:
            from governance.models import StateDefinition

            self._pending_definitions.add(definition_id)
            pending, self._pending_definitions = self._pending_definitions, set()
            rows = StateDefinition._base_manager.filter(pk__in=pending).values_list("pk", "workflow__dataset_id")
            self._workflow_datasets.update(dict(rows))
            self.note_datasets(self._workflow_datasets.get(pk) for pk in pending)
        return self._workflow_datasets.get(definition_id)

    def criteria(self, tree: Any, *, dataset_id: int | None) -> Any:
        """Criteria without the conditions on fields the reader may not see: each group keeps
        its visible conditions and one ``{"hidden": n}`` for the n hidden ones; a tree or group
        made only of hidden conditions becomes ``{"hidden": n}``."""
        hidden = self.hidden_field_names(dataset_id)
        if not hidden or not isinstance(tree, dict) or not tree:
            return tree
        redacted, count = _redact_node(tree, hidden)
        return placeholder(count) if redacted is None else redacted

    def criteria_text(self, tree: Any, *, dataset_id: int | None) -> str:
        """``governance.criteria.describe`` of the redacted criteria: a hidden part reads
        "1 condition you cannot see"."""
        return describe_redacted(self.criteria(tree, dataset_id=dataset_id))

    def state_diff(self, diff: Mapping, *, dataset_id: int | None) -> dict:
        """``governance.services.states.diff`` as the reader may see it: both criteria and their
        texts redacted; ``criteria_changed`` is whether the redacted criteria differ."""
        criteria = dict(diff.get("criteria") or {})
        before = self.criteria(criteria.get("from"), dataset_id=dataset_id)
        after = self.criteria(criteria.get("to"), dataset_id=dataset_id)
        criteria.update({"from": before, "to": after,
                         "from_text": describe_redacted(before) if before else "(no criteria)",
                         "to_text": describe_redacted(after) if after else "(no criteria)"})
        return {**diff, "criteria": criteria, "criteria_changed": diff.get("criteria_changed", False)
                and before != after}

    # --- compliance results, runs and incidents ------------------------------------------------

    def note_runs(self, run_ids: Iterable[int | None]) -> None:
        """Runs whose summaries (or incidents' summaries) are about to be rendered."""
        if self.restricted:
            self._pending_runs.update(pk for pk in run_ids if pk is not None and pk not in self._results)

    def _run_results(self, run_id: int) -> dict[str, Any]:
        if run_id not in self._results:
            from governance.models import CheckResult

            self._pending_runs.add(run_id)
            pending, self._pending_runs = self._pending_runs, set()
            found = {pk: {"visible": {}, "total": defaultdict(int)} for pk in pending}
            for pk, status, count in CheckResult.objects.filter(run_id__in=pending).order_by().values_list(
                    "run_id", "status").annotate(n=Count("pk")):
                found[pk]["total"][status] = count
            for pk, key, status in CheckResult.objects.visible_to(self.user).filter(run_id__in=pending).order_by(
                    ).values_list("run_id", "key", "status"):
                found[pk]["visible"][key] = status
            self._results.update(found)
        return self._results[run_id]

    def run_summary(self, summary: Any, *, run_id: int) -> Any:
        """A run's ``{"pass": n, "fail": n, "error": n}`` counting only the results the reader
        sees, plus ``"hidden": n`` when some are hidden."""
        if not self.restricted or not isinstance(summary, dict) or not summary:
            return summary
        results = self._run_results(run_id)
        visible = defaultdict(int)
        for status in results["visible"].values():
            visible[status] += 1
        hidden = sum(results["total"].values()) - sum(visible.values())
        counted = {key: visible.get(key, 0) for key in summary}
        return {**counted, PLACEHOLDER_KEY: hidden} if hidden > 0 else counted

    def incident_summary(self, summary: Any, *, run_id: int) -> Any:
        """An incident's ``{"failing_rules": [...], "counts": {...}}``: only the failing rules of
        results the reader sees (one ``{"hidden": n}`` for the rest), counts as ``run_summary``.
        A schema drift's ``{"dataset": id, "breaking_changes": [...]}``: only the changes of
        fields the reader sees (none of a hidden dataset), one ``{"hidden": n}`` for the rest."""
        if not self.restricted or not isinstance(summary, dict):
            return summary
        if isinstance(summary.get("breaking_changes"), list):
            return self._drift_summary(summary)
        results = self._run_results(run_id)
        redacted = dict(summary)
        failing = summary.get("failing_rules")
        if isinstance(failing, list):
            kept = [key for key in failing if key in results["visible"]]
            dropped = len(failing) - len(kept)
            redacted["failing_rules"] = kept + ([placeholder(dropped)] if dropped else [])
        if "counts" in summary:
            redacted["counts"] = self.run_summary(summary["counts"], run_id=run_id)
        return redacted

    def _council(self) -> bool:
        from permissions.council import is_council

        return self.user is None or is_council(self.user)

    def _drift_summary(self, summary: dict) -> dict:
        from catalog.models import Dataset

        dataset_id = summary.get("dataset")
        seen = isinstance(dataset_id, int) and self.is_visible(Dataset, dataset_id)
        hidden = self.hidden_field_names(dataset_id) if seen else frozenset()
        changes = summary["breaking_changes"]
        # A removed field some rule hid ("restricted") is the council's only: whom from cannot be told any more.
        council = any(isinstance(c, dict) and c.get("restricted") for c in changes) and self._council()
        kept = [c for c in changes if seen and isinstance(c, dict) and c.get("field") not in hidden
                and (council or not c.get("restricted"))]
        dropped = len(changes) - len(kept)
        return {**summary, "breaking_changes": kept + ([placeholder(dropped)] if dropped else [])}

    def note_states(self, version_ids: Iterable[int]) -> None:
        """Contract versions whose results' messages may name their state definitions."""
        if self.restricted:
            self._pending_versions.update(pk for pk in version_ids if pk not in self._states)

    def _version_states(self, version_id: int) -> list[tuple[int, str]]:
        if version_id not in self._states:
            from governance.models import ContractVersion, StateDefinition

            self._pending_versions.add(version_id)
            pending, self._pending_versions = self._pending_versions, set()
            found: dict[int, list[tuple[int, str]]] = defaultdict(list)
            rows = ContractVersion.state_definitions.through.objects.filter(contractversion_id__in=pending)
            for version, state, name, workflow in rows.values_list(
                    "contractversion_id", "statedefinition_id", "statedefinition__name",
                    "statedefinition__workflow__name"):
                found[version].append((state, f"{workflow}: {name}"))
            self._states.update({pk: found[pk] for pk in pending})
            self.note(StateDefinition, (pk for rows in found.values() for pk, _ in rows))
        return self._states[version_id]

    def message(self, text: str, *, dataset_id: int | None = None, contract_id: int | None = None,
                version_id: int | None = None) -> str:
        """A check result's message without names the reader may not see: fields of the
        result's dataset ("1 field you cannot see"); for a result about no dataset, the
        contract's datasets and the version's state definitions."""
        if not self.restricted or not text:
            return text
        if dataset_id is not None:
            return _replace(text, self.hidden_field_names(dataset_id), "field")
        from catalog.models import Dataset
        from governance.models import StateDefinition

        if contract_id is not None:
            self.note_terms([_TermsRef({}, contract_id)])
            self._resolve_terms()
            covered = self._contract_datasets.get(contract_id, [])
            visible = self.visible_ids(Dataset, {pk for pk, _ in covered})
            text = _replace(text, {name for pk, name in covered if pk not in visible}, "dataset")
        if version_id is not None:
            states = self._version_states(version_id)
            visible = self.visible_ids(StateDefinition, {pk for pk, _ in states})
            text = _replace(text, {label for pk, label in states if pk not in visible}, "state")
        return text


class _TermsRef:
    """Terms and contract, for ``note_terms`` where no version object is at hand."""

    def __init__(self, terms, contract_id):
        self.terms, self.contract_id = terms, contract_id


def _object_names(terms: Any) -> set[str]:
    if not isinstance(terms, dict) or not isinstance(terms.get("schema"), list):
        return set()
    return {name for obj in terms["schema"] if isinstance(obj, dict)
            for name in (obj.get("physical_name"), obj.get("name")) if isinstance(name, str) and name}


def _redact_node(node: Any, hidden: frozenset[str]) -> tuple[Any, int]:
    """(the node without conditions on hidden fields, or None if nothing visible is left; how many
    conditions were taken out)."""
    if not isinstance(node, dict):
        return node, 0
    if isinstance(node.get("field"), str):
        return (None, 1) if node["field"] in hidden else (node, 0)
    for key in ("all", "any"):
        if isinstance(node.get(key), list):
            kept, count = [], 0
            for child in node[key]:
                redacted, taken = _redact_node(child, hidden)
                count += taken
                if redacted is not None:
                    kept.append(redacted)
            if not kept and count:
                return None, count
            return {**node, key: kept + ([placeholder(count)] if count else [])}, count
    if "not" in node:
        redacted, count = _redact_node(node["not"], hidden)
        if redacted is None:
            return None, count
        return {**node, "not": redacted}, count
    return node, 0


_SENTINEL = "__accord_hidden_{}__"
_SENTINEL_TEXT = re.compile(r"__accord_hidden_(\d+)__ is empty")


def describe_redacted(tree: Any) -> str:
    """``criteria.describe`` of a tree that may hold ``{"hidden": n}`` placeholders."""
    from governance import criteria

    if not tree:
        return ""

    def swap(node: Any) -> Any:
        if is_placeholder(node):
            return {"field": _SENTINEL.format(int(node[PLACEHOLDER_KEY])), "op": "is_null"}
        if isinstance(node, dict):
            return {key: [swap(child) for child in value] if isinstance(value, list) else swap(value)
                    if key == "not" else value for key, value in node.items()}
        return node

    text = criteria.describe(swap(tree))
    return _SENTINEL_TEXT.sub(lambda match: hidden_phrase(int(match[1]), "condition"), text)


def _mentions(text: str, word: str) -> bool:
    return bool(word) and re.search(_word_pattern(word), text) is not None


def _word_pattern(word: str) -> str:
    # A name as a whole word: not inside a longer identifier or qualified name.
    return rf"(?<![\w.]){re.escape(word)}(?!\w|\.\w)"


_MARK = "\x00"
_MARKS = re.compile(rf"{_MARK}(?:(?:, |; | and ){_MARK})*")


def _replace(text: str, words: Iterable[str], noun: str) -> str:
    """``text`` with each of ``words`` replaced; neighbours in a list merge ("2 fields you cannot see")."""
    words = sorted((word for word in words if word), key=len, reverse=True)
    if not words:
        return text
    marked = re.sub("|".join(_word_pattern(word) for word in words), _MARK, text)
    if marked == text:
        return text
    return _MARKS.sub(lambda match: hidden_phrase(match[0].count(_MARK), noun), marked)


# --- one object at a time (the admin, exports, payloads) --------------------------------------------
# Each makes its own Redactor; for many objects, make one Redactor, note them all, then ask.


def terms_for(user, version) -> Any:
    """A contract version's terms as ``user`` may see them."""
    return Redactor(user).terms(version.terms, contract_id=version.contract_id)


def changes_for(user, version) -> Any:
    """A contract version's change list as ``user`` may see it."""
    return Redactor(user).changes(version.changes, terms=version.terms, contract_id=version.contract_id)


def criteria_for(user, version) -> Any:
    """A state definition version's criteria as ``user`` may see them."""
    redactor = Redactor(user)
    return redactor.criteria(version.criteria, dataset_id=redactor.workflow_dataset(version.definition_id)
                             if redactor.restricted else None)


def criteria_text_for(user, version) -> str:
    """``criteria_for`` in words."""
    return describe_redacted(criteria_for(user, version))


def state_diff_for(user, diff: Mapping, definition) -> dict:
    """``governance.services.states.diff`` between two versions of ``definition``, as ``user`` may see it."""
    redactor = Redactor(user)
    dataset_id = redactor.workflow_dataset(definition.pk) if redactor.restricted else None
    return redactor.state_diff(diff, dataset_id=dataset_id)


def run_summary_for(user, run) -> Any:
    """A compliance run's summary counting only the results ``user`` sees (plus ``"hidden": n``)."""
    return Redactor(user).run_summary(run.summary, run_id=run.pk)


def incident_summary_for(user, incident) -> Any:
    """An incident's summary as ``user`` may see it."""
    return Redactor(user).incident_summary(incident.summary, run_id=incident.opened_by_run_id)


def messages_for(user, results: Iterable[Any]) -> list[str]:
    """The messages of check results (of any runs), in order, as ``user`` may see them."""
    from governance.models import ComplianceRun

    results = list(results)
    redactor = Redactor(user)
    if not redactor.restricted:
        return [result.message for result in results]
    runs = dict((pk, (version, contract)) for pk, version, contract in ComplianceRun._base_manager.filter(
        pk__in={result.run_id for result in results}).values_list("pk", "contract_version_id",
                                                                  "contract_version__contract_id"))
    redactor.note_datasets(result.dataset_id for result in results)
    redactor.note_terms(_TermsRef({}, contract) for _, contract in runs.values())
    redactor.note_states(version for version, _ in runs.values())
    return [redactor.message(result.message, dataset_id=result.dataset_id, contract_id=runs[result.run_id][1],
                             version_id=runs[result.run_id][0]) for result in results]
