"""The ``accord`` command (cli/) against a real Accord server started by the test run (pytest-django's
live_server on 127.0.0.1), with a real API token: push, pull, check --wait with JUnit, register,
dbt push, lineage send, and the refusals (a breaking change without a major bump, a bad token, no server)."""

from __future__ import annotations

import io
import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from accord_cli.main import main

from catalog.models import Dataset
from governance.models import ComplianceRun, ContractVersion, DataContract
from ingest.models import IngestionRun
from permissions.services import create_token
from tests import factories
from tests.governance.compliance_fixtures import build_contract, write_source

pytestmark = pytest.mark.django_db(transaction=True)
SHOP = Path(__file__).resolve().parents[1] / "ingest" / "dbt_artifacts" / "shop" / "built"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def world(tmp_path, monkeypatch, live_server):
    """The compliance fixtures' active contract 'handoff' (Marketing → Sales) over a SQLite source, and
    a token for Maria, Marketing's lead, in ACCORD_URL/ACCORD_TOKEN."""
    built = build_contract(tmp_path, monkeypatch)
    _, raw = create_token(user=built["maria"], name="pipeline", actor=built["maria"])
    monkeypatch.setenv("ACCORD_URL", live_server.url)
    monkeypatch.setenv("ACCORD_TOKEN", raw)
    return {**built, "token": raw, "tmp": tmp_path}


def orders_document(version="1.0.0") -> dict:
    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "orders-feed", "name": "Orders feed",
        "version": version, "status": "active",
        "schema": [{"name": "orders", "physicalName": "sales.orders", "properties": [
            {"name": "order_id", "logicalType": "string", "physicalType": "varchar(18)", "required": True},
            {"name": "amount", "logicalType": "number", "physicalType": "numeric(12,2)"},
        ]}],
    }


def test_push_creates_a_contract_and_prints_its_version(world):
    path = world["tmp"] / "orders.odcs.yaml"
    path.write_text(yaml.safe_dump(orders_document()))
    code, out, err = run("contract", "push", str(path), "--producer", "marketing", "--consumer", "sales")
    assert code == 0, err
    contract = DataContract.objects.get(name="Orders feed")
    assert out.startswith(f"{contract.slug} 1.0.0 (draft, initial")
    assert contract.producer.slug == "marketing" and [d.slug for d in contract.consumers.all()] == ["sales"]


def test_push_without_a_consumer_is_refused_by_field(world):
    path = world["tmp"] / "orders.odcs.json"
    path.write_text(json.dumps(orders_document()))
    code, out, err = run("contract", "push", str(path), "--producer", "marketing")
    assert code == 1 and out == ""
    assert "HTTP 400" in err and "\n  consumers: Name at least one consuming department." in err
    assert not DataContract.objects.filter(name="Orders feed").exists()
    assert "Traceback" not in err


def _pulled_handoff(world) -> dict:
    code, out, err = run("contract", "pull", "handoff", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_push_adds_a_version_and_refuses_a_breaking_change_without_a_major_bump(world):
    document = _pulled_handoff(world)
    assert document["version"] == "1.0.0"
    document["version"] = "1.1.0"
    leads = next(obj for obj in document["schema"] if obj["name"] == "leads")
    breaking = json.loads(json.dumps(document))
    leads["properties"].append({"name": "region", "logicalType": "string", "physicalType": "varchar(8)"})
    path = world["tmp"] / "handoff.json"
    path.write_text(json.dumps(document))
    code, out, err = run("contract", "push", str(path), "--contract", "handoff")
    assert code == 0, err
    assert out.splitlines()[0].startswith("handoff 1.1.0 (draft, additive")
    assert "additive: field leads.region added" in out
    ContractVersion.objects.filter(contract__slug="handoff", status="draft").delete()

    leads = next(obj for obj in breaking["schema"] if obj["name"] == "leads")
    leads["properties"] = [p for p in leads["properties"] if p["name"] != "score"]
    path.write_text(json.dumps(breaking))
    code, out, err = run("contract", "push", str(path), "--contract", "handoff")
    assert code == 1 and out == ""
    assert "HTTP 400" in err and "needs a major bump from 1.0.0; 1.1.0 is a minor bump" in err
    assert "changes: breaking: field leads.score removed or renamed" in err
    assert not ContractVersion.objects.filter(contract__slug="handoff", version="1.1.0").exists()


def test_pull_writes_yaml_or_json_by_version(world):
    out_file = world["tmp"] / "pulled.yaml"
    code, out, err = run("contract", "pull", "handoff", "--version", "1.0.0", "-o", str(out_file),
                         "--odcs-version", "3.1.0")
    assert code == 0, err
    document = yaml.safe_load(out_file.read_text())
    assert (document["apiVersion"], document["version"], document["kind"]) == ("v3.1.0", "1.0.0", "DataContract")
    assert _pulled_handoff(world) == document
    code, _, err = run("contract", "pull", "handoff", "--version", "9.9.9")
    assert code == 1 and "has no version '9.9.9' (versions: 1.0.0)" in err
    code, _, err = run("contract", "pull", "nope")
    assert code == 1 and "No contract with slug 'nope'" in err
    code, _, err = run("contract", "pull", "handoff", "--odcs-version", "3.0.2")
    assert code == 1 and "does not convert documents to ODCS 3.0.2" in err


def test_check_wait_fails_on_planted_violations_with_a_junit_report(world):
    junit = world["tmp"] / "report.xml"
    code, out, err = run("check", "handoff", "--wait", "--timeout", "60", "--junit", str(junit))
    assert code == 1, (out, err)
    run_row = ComplianceRun.objects.get()
    assert (run_row.status, run_row.outcome) == ("completed", "fail")
    assert out.rstrip().endswith("handoff 1.0.0: fail")
    suite = ET.parse(junit).getroot()
    cases = suite.findall("testcase")
    results = {r.key: r.status for r in run_row.results.all()}
    assert len(cases) == len(results) == int(suite.get("tests")) > 0
    failed = {case.get("name") for case in cases if case.find("failure") is not None}
    assert failed == {key for key, status in results.items() if status == "fail"}
    assert int(suite.get("failures")) == len(failed) >= 2
    assert any("email" in name for name in failed)


def test_check_wait_passes_on_a_clean_source(world):
    write_source(world["source"], null_emails=0, bad_statuses=0, unqualified_mqls=0)
    junit = world["tmp"] / "report.xml"
    code, out, err = run("check", "handoff", "--wait", "--junit", str(junit))
    assert code == 0, (out, err)
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0" and suite.get("errors") == "0" and len(suite.findall("testcase")) > 0
    assert out.rstrip().endswith("handoff 1.0.0: pass")


def test_check_by_someone_who_may_not_run_it_is_refused(world):
    _, raw = create_token(user=world["sofia"], name="sales-ci", actor=world["sofia"])
    code, _, err = run("--token", raw, "check", "handoff", "--wait")
    assert code == 1 and "HTTP 403" in err and "Only the producer's lead or the council may run checks." in err
    assert not ComplianceRun.objects.exists()


def test_register_is_idempotent_and_names_refused_fields(world):
    factories.system(name="CRM", slug="crm", owner_department=world["marketing"])
    payload = {"datasets": [{"system": "crm", "qualified_name": "public.accounts", "name": "Accounts",
                             "owner_department": "marketing",
                             "fields": [{"name": "id", "data_type": "bigint", "is_key": True},
                                        {"name": "name", "data_type": "text"}]}]}
    path = world["tmp"] / "register.json"
    path.write_text(json.dumps(payload))
    code, out, err = run("register", str(path))
    assert code == 0, err
    assert out == "crm/public.accounts: created; fields created 2, updated 0, unchanged 0\n"
    assert Dataset.objects.get(qualified_name="public.accounts").fields.count() == 2
    code, out, _ = run("register", str(path))
    assert (code, out) == (0, "crm/public.accounts: unchanged; fields created 0, updated 0, unchanged 2\n")
    payload["datasets"][0]["fields"][1]["nullable"] = "perhaps"
    path.write_text(json.dumps(payload))
    code, out, err = run("register", str(path))
    assert code == 1 and "crm/public.accounts: HTTP 400" in err and "fields.1.nullable: " in err


def test_dbt_push_uploads_the_target_directory(world):
    factories.system(name="Shop warehouse", slug="shop-wh", owner_department=world["marketing"])
    code, out, err = run("dbt", "push", str(SHOP), "--system", "shop-wh")
    assert code == 0, err
    ingestion = IngestionRun.objects.get()
    assert out.startswith(f"dbt project shop: ingestion run {ingestion.pk} partial "
                          "(catalog, manifest, run_results sent)")
    assert json.loads(out[out.index("\n") + 1:]) == ingestion.counts
    assert Dataset.objects.filter(system__slug="shop-wh", qualified_name="marts.fct_orders").exists()
    code, _, err = run("dbt", "push", str(world["tmp"]))
    assert code == 2 and "has no manifest.json" in err


def test_a_bad_token_is_refused_and_never_printed(world):
    secret = world["token"][:-4] + "XXXX"
    code, out, err = run("--token", secret, "contract", "pull", "handoff")
    assert code == 1 and out == ""
    assert "HTTP 401" in err
    assert secret not in err and world["token"] not in err and secret[8:] not in err


def test_no_server_no_token_and_usage_errors_exit_2_without_a_traceback(world, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = run("--url", f"http://127.0.0.1:{port}", "contract", "pull", "handoff")
    assert code == 2 and "Could not reach the server at http://127.0.0.1:" in err and world["token"] not in err
    monkeypatch.delenv("ACCORD_TOKEN")
    code, _, err = run("contract", "pull", "handoff")
    assert code == 2 and "Set ACCORD_TOKEN" in err
    code, _, err = run("check", "handoff", "--junit", "x.xml")
    assert code == 2 and "--junit needs --wait" in err
    assert run("frobnicate")[0] == 2
    assert "Traceback" not in err


def test_lineage_send_posts_jsonl_events_in_batches_and_names_bad_lines(world):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.serde import Serde

    from catalog.models import LineageEdge
    from ingest.models import LineageNamespace

    warehouse = "postgres://warehouse.example.com:5432/shop"
    system = factories.system(name="Shop", slug="shop", owner_department=world["marketing"])
    LineageNamespace.objects.create(namespace=warehouse, system=system)
    run_, job = Run(runId="3f1c8a52-8a4e-4b4f-9a51-6f0f3f0c2b10"), Job(namespace="airflow", name="nightly.leads")
    inputs = [InputDataset(namespace=warehouse, name="shop.raw.leads"), InputDataset(namespace="s3://raw", name="x")]
    outputs = [OutputDataset(namespace=warehouse, name="shop.staging.stg_leads")]
    events = [Serde.to_json(RunEvent(eventType=state, eventTime=f"2026-12-07T10:0{i}:00Z", run=run_, job=job,
                                     inputs=inputs, outputs=outputs))
              for i, state in enumerate((RunState.START, RunState.COMPLETE))]
    path = world["tmp"] / "events.jsonl"
    path.write_text(events[0] + "\n\n" + events[1] + "\n")
    code, out, err = run("lineage", "send", str(path), "--batch", "1")
    assert code == 0, err
    assert out.splitlines() == ["2 events sent: COMPLETE 1, START 1",
                                "unknown namespaces (map them to systems: lineage-namespaces/): s3://raw"]
    assert set(LineageEdge.objects.values_list("source__qualified_name", "target__qualified_name")) == {
        ("raw.leads", "staging.stg_leads")}

    bad = json.loads(events[1])
    bad["eventTime"] = "yesterday"
    path.write_text(events[0] + "\n" + json.dumps(bad) + "\n")
    code, out, err = run("lineage", "send", str(path))
    assert code == 1 and out == ""
    assert "HTTP 400" in err and "\n  line 2 eventTime: " in err
    path.write_text("{not json\n")
    code, _, err = run("lineage", "send", str(path))
    assert code == 2 and "line 1 is not JSON" in err


def test_register_takes_an_odcs_document_with_its_system(world):
    factories.system(name="CRM", slug="crm", owner_department=world["marketing"])
    document = orders_document()
    document["schema"][0]["properties"][0]["primaryKey"] = True
    path = world["tmp"] / "orders.odcs.yaml"
    path.write_text(yaml.safe_dump(document))
    code, _, err = run("register", str(path))
    assert code == 2 and "name the system its tables are in with --system SLUG" in err
    code, out, err = run("register", str(path), "--system", "crm", "--owner-department", "marketing")
    assert code == 0, err
    assert out == "crm/sales.orders: created; fields created 2, updated 0, unchanged 0\n"
    dataset = Dataset.objects.get(system__slug="crm", qualified_name="sales.orders")
    assert (dataset.name, dataset.owner_department.slug) == ("orders", "marketing")
    assert list(dataset.fields.order_by("position").values_list("name", "data_type", "nullable", "is_key")) == [
        ("order_id", "varchar(18)", False, True), ("amount", "numeric(12,2)", True, False)]


@pytest.mark.django_db(transaction=False)
def test_the_console_script_is_installed_with_the_dev_requirements():
    import shutil
    import subprocess
    import sys

    script = shutil.which("accord", path=str(Path(sys.executable).parent))
    assert script, "the accord command is not installed: pip install -e ./cli (requirements-dev.txt)"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and "{contract,check,register,dbt,lineage}" in done.stdout
    done = subprocess.run([script, "contract", "pull", "x"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2 and done.stderr == ("accord: Set ACCORD_URL (or --url) to the Accord server, "
                                                    "e.g. https://accord.example.com.\n")
