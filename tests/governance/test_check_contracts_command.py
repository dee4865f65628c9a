"""manage.py check_contracts prints each rule's observed value, threshold and outcome (text, or one
JSON document with --format json), and exits non-zero when a contract is not compliant."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import CheckResult
from tests.governance.compliance_fixtures import build_contract, write_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(tmp_path, monkeypatch):
    return build_contract(tmp_path, monkeypatch)


def run(*args) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("check_contracts", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def test_text_names_every_rule_with_its_observed_value_threshold_and_outcome(setup):
    out, error = run("--contract", "handoff")
    assert error is not None and "1 contract(s) not compliant" in str(error)
    lines = out.splitlines()
    assert lines[0].startswith("handoff 1.0.0: fail (")
    results = CheckResult.objects.filter(run__contract_version=setup["version"])
    assert len(lines) == 1 + results.count()
    by_key = {line.split()[1]: line for line in lines[1:]}
    assert set(by_key) == set(results.values_list("key", flat=True))
    not_null = next(line for key, line in by_key.items() if key.endswith(":email:not_null:0"))
    # The planted 3 null emails of 100 rows.
    assert not_null.split()[0] == "fail" and "observed 3" in not_null and "threshold " in not_null
    assert "violations 3" in not_null
    accepted = next(line for key, line in by_key.items() if ":status:accepted_values:" in key)
    assert "observed 2" in accepted and "violations 2" in accepted


def test_json_is_one_document_with_each_result(setup):
    out, error = run("--contract", "handoff", "--format", "json")
    assert error is not None
    report = json.loads(out)
    assert report["failing"] == 1
    (contract,) = report["contracts"]
    assert (contract["contract"], contract["version"], contract["outcome"]) == ("handoff", "1.0.0", "fail")
    stored = {r.key: r for r in CheckResult.objects.filter(run_id=contract["run"])}
    assert {r["key"] for r in contract["results"]} == set(stored)
    for result in contract["results"]:
        row = stored[result["key"]]
        assert (result["status"], result["observed"], result["threshold"], result["violations"]) == (
            row.status, row.observed, row.threshold, row.violations)
        assert set(result) == {"key", "kind", "rule", "dataset", "field", "status", "observed", "threshold",
                               "violations", "duration_ms", "message"}
    unique = next(r for r in contract["results"] if r["rule"] == "unique")
    assert unique["dataset"] == "leads" and unique["field"] == "lead_id"


def test_a_compliant_contract_exits_zero(setup):
    write_source(setup["source"], null_emails=0, bad_statuses=0, unqualified_mqls=0)
    out, error = run("--all", "--format", "json")
    assert error is None
    report = json.loads(out)
    assert report["failing"] == 0 and all(r["status"] == "pass" for r in report["contracts"][0]["results"])
    text, error = run("--contract", "handoff")
    assert error is None and text.splitlines()[0].startswith("handoff 1.0.0: pass (")


def test_an_unreachable_source_is_an_error_with_its_message(setup):
    setup["source"].unlink()
    setup["source"].mkdir()  # a folder: SQLite cannot open it
    out, error = run("--contract", "handoff", "--format", "json")
    assert error is not None
    (contract,) = json.loads(out)["contracts"]
    assert contract["outcome"] == "error" and contract["error"]


def test_unknown_contracts_and_no_arguments_are_refused(setup):
    with pytest.raises(CommandError, match="nope"):
        call_command("check_contracts", "--contract", "nope")
    with pytest.raises(CommandError, match="--all"):
        call_command("check_contracts")
