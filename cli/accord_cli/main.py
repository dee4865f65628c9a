"""accord: data contracts, compliance checks, registration and dbt artifacts from a pipeline.

Configured by ACCORD_URL and ACCORD_TOKEN (``--url`` and ``--token`` override them). Exit codes:
0 done (``check``: compliant), 1 refused by the server or failing checks, 2 anything else (the
server unreachable or failing, a timeout, a usage error, checks that could not run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from accord_cli.client import Accord, CliError, describe_error

DBT_ARTIFACTS = ("manifest", "catalog", "run_results")
#: The most events the server takes in one request (docs/ingestion.md).
LINEAGE_BATCH = 1000


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot read {path}: {exc.strerror or exc}", 2) from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not UTF-8 text.", 2) from None


def _write(text: str, path: str | None, out) -> None:
    if path is None:
        out.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"Cannot write {path}: {exc.strerror or exc}", 2) from None


# --- contract push / pull ---------------------------------------------------------------------

def contract_push(api: Accord, args, out, err) -> int:
    body: dict = {"document": _read(args.file)}
    if args.contract:
        body["contract"] = args.contract
    if args.producer:
        body["producer"] = args.producer
    if args.consumer:
        body["consumers"] = args.consumer
    if args.system:
        body["system"] = args.system
    version = api.post("contracts/import-odcs/", json=body)
    for warning in version.get("warnings") or []:
        err.write(f"warning: {warning}\n")
    contract = version.get("contract") or {}
    out.write(f"{contract.get('slug')} {version.get('version')} ({version.get('status')}, "
              f"{version.get('change_class')}; version id {version.get('id')})\n")
    for change in version.get("changes") or []:
        out.write(f"  {change.get('class')}: {change.get('change')}\n")
    return 0


def _pick_version(api: Accord, contract: dict, label: str | None) -> dict:
    versions = api.all("contract-versions/", contract=contract["id"])
    if label is not None:
        chosen = [v for v in versions if v.get("version") == label]
        if not chosen:
            known = ", ".join(v.get("version") or "?" for v in versions) or "none"
            raise CliError(f"Contract {contract['slug']!r} has no version {label!r} (versions: {known}).")
        return chosen[-1]
    active = [v for v in versions if v.get("status") == "active"]
    if active:
        return active[-1]
    if not versions:
        raise CliError(f"Contract {contract['slug']!r} has no versions yet.")
    return max(versions, key=lambda v: v["id"])


def contract_pull(api: Accord, args, out, err) -> int:
    contract = api.contract(args.slug)
    version = _pick_version(api, contract, args.version)
    text = api.request("GET", f"contract-versions/{version['id']}/odcs/", params={"as": args.format}).text
    if args.odcs_version:
        document = json.loads(text) if args.format == "json" else yaml.safe_load(text)
        written = str((document or {}).get("apiVersion", "")).lstrip("v")
        if written != args.odcs_version.lstrip("v"):
            raise CliError(f"The server exports this version as ODCS {written or '(unknown)'}; it does not convert "
                           f"documents to ODCS {args.odcs_version}.")
    _write(text, args.output, out)
    if args.output:
        err.write(f"{contract['slug']} {version.get('version')} written to {args.output}\n")
    return 0


# --- check ------------------------------------------------------------------------------------

def _junit(contract: dict, run: dict) -> str:
    results = run.get("results") or []
    suite = ET.Element("testsuite", {
        "name": f"accord.{contract['slug']}",
        "tests": str(len(results)),
        "failures": str(sum(1 for r in results if r.get("status") == "fail")),
        "errors": str(sum(1 for r in results if r.get("status") == "error")),
        "time": f"{sum((r.get('duration_ms') or 0) for r in results) / 1000:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for name in ("id", "version", "outcome", "finished_at"):
        ET.SubElement(props, "property", {"name": f"run.{name}", "value": str(run.get(name) or "")})
    for result in results:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"{contract['slug']}.{result.get('kind') or 'check'}",
            "name": result.get("key") or f"{result.get('rule')} {result.get('field') or '*'}",
            "time": f"{(result.get('duration_ms') or 0) / 1000:.3f}",
        })
        if result.get("status") in ("fail", "error"):
            detail = "\n".join(f"{key}: {json.dumps(result.get(key))}" for key in
                               ("rule", "field", "observed", "threshold", "violations") if result.get(key) is not None)
            element = ET.SubElement(case, "failure" if result["status"] == "fail" else "error",
                                    {"message": result.get("message") or result["status"],
                                     "type": result.get("rule") or result.get("kind") or "check"})
            element.text = detail
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def check(api: Accord, args, out, err) -> int:
    contract = api.contract(args.slug)
    run = api.post(f"contracts/{contract['id']}/check/")
    out.write(f"{contract['slug']}: run {run['id']} requested ({run.get('status')})\n")
    if not args.wait:
        return 0
    deadline, pause = time.monotonic() + args.timeout, 0.5
    while run.get("status") != "completed":
        if time.monotonic() >= deadline:
            err.write(f"Run {run['id']} did not finish within {args.timeout:g}s (status {run.get('status')}"
                      f"{'; ' + run['last_error'] if run.get('last_error') else ''}).\n")
            return 2
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 10.0)
        run = api.get(f"compliance-runs/{run['id']}/")
    if "results" not in run:
        run = api.get(f"compliance-runs/{run['id']}/")
    if args.junit:
        _write(_junit(contract, run), args.junit, out)
    for result in run.get("results") or []:
        if result.get("status") != "pass":
            out.write(f"  {result.get('status')}: {result.get('key')} {result.get('message') or ''}".rstrip() + "\n")
    outcome = run.get("outcome")
    out.write(f"{contract['slug']} {run.get('version')}: {outcome}"
              f"{' (' + run['last_error'] + ')' if run.get('last_error') else ''}\n")
    return {"pass": 0, "fail": 1}.get(outcome, 2)


# --- register / dbt push ----------------------------------------------------------------------

def _odcs_registrations(document: dict, system: str | None, department: str | None, path: str,
                        err) -> list[dict]:
    """An ODCS document's schema objects as registrations in ``system``: each object a dataset
    (``physicalName``, else ``name``), each top-level property a field."""
    if not system:
        raise CliError(f"{path} is an ODCS document: name the system its tables are in with --system SLUG.", 2)
    registrations = []
    for index, obj in enumerate(document.get("schema") or []):
        if not isinstance(obj, dict) or not (obj.get("physicalName") or obj.get("name")):
            raise CliError(f"{path}: schema[{index}] has neither physicalName nor name.", 2)
        qualified_name = str(obj.get("physicalName") or obj["name"])
        fields = []
        for position, prop in enumerate(obj.get("properties") or []):
            where = f"schema[{index}].properties[{position}]"
            if not isinstance(prop, dict) or not prop.get("name"):
                raise CliError(f"{path}: {where} has no name.", 2)
            data_type = prop.get("physicalType") or prop.get("logicalType")
            if not data_type:
                raise CliError(f"{path}: {where} ({prop['name']}) has neither physicalType nor logicalType.", 2)
            if prop.get("properties") or prop.get("items"):
                err.write(f"note: {qualified_name}.{prop['name']} is registered as one {data_type} field; "
                          "its nested properties are not\n")
            field = {"name": str(prop.get("physicalName") or prop["name"]), "data_type": str(data_type),
                     "position": position, "nullable": not prop.get("required", False)}
            if prop.get("primaryKey"):
                field.update(is_key=True, nullable=False)
            if prop.get("description"):
                field["description"] = str(prop["description"])
            fields.append(field)
        registration = {"system": system, "qualified_name": qualified_name, "name": str(obj.get("name") or
                                                                                       qualified_name),
                        "fields": fields}
        if obj.get("description"):
            registration["description"] = str(obj["description"])
        if department:
            registration["owner_department"] = department
        registrations.append(registration)
    if not registrations:
        raise CliError(f"{path}: the ODCS document has no schema objects to register.", 2)
    return registrations


def register(api: Accord, args, out, err) -> int:
    text = _read(args.file)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            payload = yaml.safe_load(text)
        except yaml.YAMLError:
            raise CliError(f"{args.file} is neither JSON nor YAML: {exc}", 2) from None
    if isinstance(payload, dict) and payload.get("kind") == "DataContract" and "apiVersion" in payload:
        payload = _odcs_registrations(payload, args.system, args.owner_department, args.file, err)
    elif args.system or args.owner_department:
        raise CliError("--system and --owner-department are for ODCS documents; a registration names them itself.",
                       2)
    if isinstance(payload, dict) and "datasets" in payload:
        payload = payload["datasets"]
    datasets = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(item, dict) for item in datasets):
        raise CliError(f"{args.file}: give one dataset object, a list of them, {{\"datasets\": [...]}} "
                       "or an ODCS document.", 2)
    for index, dataset in enumerate(datasets):
        name = f"{dataset.get('system')}/{dataset.get('qualified_name')}"
        try:
            result = api.post("datasets/register/", json=dataset)
        except CliError as exc:
            done = (f" ({index} of {len(datasets)} registered before it; later ones not sent)"
                    if len(datasets) > 1 else "")
            raise CliError(f"{name}: {exc}{done}", exc.code) from None
        fields = result.get("fields") or {}
        state = "created" if result.get("created") else ("changed" if result.get("changed") else "unchanged")
        missing = fields.get("missing") or []
        out.write(f"{name}: {state}; fields created {len(fields.get('created') or [])}, updated "
                  f"{len(fields.get('updated') or [])}, unchanged {len(fields.get('unchanged') or [])}"
                  f"{', missing ' + ', '.join(map(str, missing)) if missing else ''}\n")
    return 0


def dbt_push(api: Accord, args, out, err) -> int:
    target = Path(args.target_dir)
    if not target.is_dir():
        raise CliError(f"{target} is not a directory (give dbt's target/ directory).", 2)
    files = {}
    for name in DBT_ARTIFACTS:
        path = target / f"{name}.json"
        if path.is_file():
            files[name] = (path.name, path.read_bytes(), "application/json")
    if "manifest" not in files:
        raise CliError(f"{target} has no manifest.json.", 2)
    run = api.post("ingest/dbt/", files=files, data={"system": args.system} if args.system else None)
    project = run.get("project")
    project = project.get("name") if isinstance(project, dict) else project
    out.write(f"dbt project {project}: ingestion run {run.get('id')} {run.get('status', '')} "
              f"({', '.join(sorted(files))} sent)\n")
    if run.get("counts"):
        out.write(json.dumps(run["counts"], indent=2, sort_keys=True) + "\n")
    for warning in run.get("warnings") or []:
        err.write(f"warning: {warning if isinstance(warning, str) else json.dumps(warning)}\n")
    for error in run.get("errors") or []:
        err.write(f"error: {error if isinstance(error, str) else json.dumps(error)}\n")
    return 1 if run.get("status") == "failed" else 0


def lineage_send(api: Accord, args, out, err) -> int:
    events, lines = [], []
    for number, line in enumerate(_read(args.file).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CliError(f"{args.file} line {number} is not JSON: {exc.msg} (column {exc.colno}).", 2) from None
        lines.append(number)
    if not events:
        raise CliError(f"{args.file} has no events (one JSON event per line).", 2)
    totals: dict[str, int] = {}
    unknown: set[str] = set()
    for start in range(0, len(events), args.batch):
        batch, batch_lines = events[start:start + args.batch], lines[start:start + args.batch]

        def at_line(path: str, batch_lines=batch_lines) -> str:
            match = re.match(r"^\[(\d+)\]\.?", path)
            if not match or int(match[1]) >= len(batch_lines):
                return path
            rest = path[match.end():]
            return f"line {batch_lines[int(match[1])]}" + (f" {rest}" if rest else "")

        response = api.request("POST", "lineage/openlineage/", json=batch, check=False)
        if response.status_code >= 400:
            sent = f" (lines before {batch_lines[0]} were sent and written)" if start else ""
            raise CliError(describe_error(response, rename=at_line) + sent,
                           1 if response.status_code < 500 else 2)
        report = response.json()
        for kind, count in (report.get("events") or {}).items():
            totals[kind] = totals.get(kind, 0) + count
        unknown.update(report.get("unknown_namespaces") or [])
        for warning in report.get("warnings") or []:
            err.write(f"warning: {warning}\n")
    out.write(f"{len(events)} events sent: " + ", ".join(f"{kind} {count}" for kind, count in sorted(totals.items()))
              + "\n")
    if unknown:
        out.write("unknown namespaces (map them to systems: lineage-namespaces/): "
                  + ", ".join(sorted(unknown)) + "\n")
    return 0


# --- the command line -------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="accord", description=__doc__.split("\n\n")[0])
    top.add_argument("--url", help="the Accord server (default: $ACCORD_URL)")
    top.add_argument("--token", help="an API token (default: $ACCORD_TOKEN); prefer the variable, "
                                     "as arguments show in process lists")
    commands = top.add_subparsers(dest="command", required=True)

    contract = commands.add_parser("contract", help="push or pull data contracts (ODCS)")
    contract_commands = contract.add_subparsers(dest="contract_command", required=True)
    push = contract_commands.add_parser("push", help="import an ODCS document as a new contract or a new version")
    push.add_argument("file")
    push.add_argument("--contract", metavar="SLUG", help="add a version to this contract (default: a new contract)")
    push.add_argument("--producer", metavar="SLUG", help="the producing department (new contracts)")
    push.add_argument("--consumer", metavar="SLUG", action="append", help="a consuming department (repeatable)")
    push.add_argument("--system", metavar="SLUG",
                      help="the system the document's tables are in (default: found from its servers entry)")
    push.set_defaults(run=contract_push)
    pull = contract_commands.add_parser("pull", help="export a contract version as ODCS")
    pull.add_argument("slug")
    pull.add_argument("--version", help="the version label (default: the active version, else the latest)")
    pull.add_argument("--format", choices=["yaml", "json"], default="yaml")
    pull.add_argument("--odcs-version", help="fail unless the export is this ODCS version (e.g. 3.1.0)")
    pull.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    pull.set_defaults(run=contract_pull)

    run = commands.add_parser("check", help="run a contract's checks now")
    run.add_argument("slug")
    run.add_argument("--wait", action="store_true", help="wait for the run; exit 0 compliant, 1 failing, 2 error")
    run.add_argument("--timeout", type=float, default=600.0, metavar="S", help="seconds to wait (default 600)")
    run.add_argument("--junit", metavar="FILE", help="with --wait: write a JUnit XML report, one testcase per check")
    run.set_defaults(run=check)

    reg = commands.add_parser("register", help="register datasets with their fields (idempotent)")
    reg.add_argument("file", help="JSON: one registration, a list of them, or {\"datasets\": [...]}; "
                                  "or an ODCS document (YAML or JSON), with --system")
    reg.add_argument("--system", metavar="SLUG", help="for an ODCS document: the system its tables are in")
    reg.add_argument("--owner-department", metavar="SLUG", help="for an ODCS document: the datasets' department")
    reg.set_defaults(run=register)

    dbt = commands.add_parser("dbt", help="send dbt artifacts")
    dbt_commands = dbt.add_subparsers(dest="dbt_command", required=True)
    dbt_p = dbt_commands.add_parser("push", help="upload manifest.json, catalog.json and run_results.json")
    dbt_p.add_argument("target_dir")
    dbt_p.add_argument("--system", metavar="SLUG", help="the system a new dbt project belongs to")
    dbt_p.set_defaults(run=dbt_push)

    lineage = commands.add_parser("lineage", help="send OpenLineage events")
    lineage_commands = lineage.add_subparsers(dest="lineage_command", required=True)
    send = lineage_commands.add_parser("send", help="send OpenLineage events, one JSON event per line")
    send.add_argument("file", help="a JSON Lines file of RunEvents, DatasetEvents or JobEvents")
    send.add_argument("--batch", type=int, default=LINEAGE_BATCH, choices=range(1, LINEAGE_BATCH + 1),
                      metavar=f"1..{LINEAGE_BATCH}", help=f"events per request (default {LINEAGE_BATCH})")
    send.set_defaults(run=lineage_send)
    return top


def main(argv: list[str] | None = None, *, out=None, err=None, transport=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if getattr(args, "junit", None) and not args.wait:
        err.write("accord: --junit needs --wait.\n")
        return 2
    try:
        api = Accord(args.url or os.environ.get("ACCORD_URL", ""), args.token or os.environ.get("ACCORD_TOKEN", ""),
                     transport=transport)
        try:
            return args.run(api, args, out, err)
        finally:
            api.close()
    except CliError as exc:
        err.write(f"accord: {exc}\n")
        return exc.code
    except KeyboardInterrupt:
        err.write("accord: interrupted\n")
        return 2


def entry() -> None:
    sys.exit(main())
