"""The lineage map's data (GET /api/v1/datasets/{id}/lineage-graph/, /fields/{id}/lineage-graph/)
and the data-flow map's (governance.maps.data_flow): what each reader may see, nothing more,
in a fixed number of statements."""

from __future__ import annotations

import json

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from catalog import lineage_map
from governance.maps import data_flow
from tests import factories
from tests.catalog.map_world import HIDDEN_WORDS, build_map_world, world_without_hidden_objects


def graph_url(obj, **params) -> str:
    kind = "fields" if obj.__class__.__name__ == "Field" else "datasets"
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/v1/{kind}/{obj.pk}/lineage-graph/" + (f"?{query}" if query else "")


class LineageMapTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.w = build_map_world()

    def get(self, user, url):
        client = APIClient()
        client.force_authenticate(user)
        return client.get(url)

    def graph(self, user, obj, **params) -> dict:
        response = self.get(user, graph_url(obj, **params))
        self.assertEqual(response.status_code, 200, response.content)
        return response.json()

    def names(self, graph) -> set[str]:
        return {node["qualified_name"] for node in graph["nodes"]}

    def assertMentionsNone(self, data):  # noqa: N802 - unittest naming
        text = json.dumps(data)
        found = [word for word in HIDDEN_WORDS if word.lower() in text.lower()]
        self.assertFalse(found, f"hidden names {found} in {text[:1500]}")

    def test_colleague_sees_the_whole_map_with_levels_systems_departments_and_contract_marks(self):
        w = self.w
        graph = self.graph(w.colleague, w.stg, depth=2, fields="true")
        self.assertEqual(self.names(graph), {
            "crm.accounts", "hr.salaries", "stg.accounts", "mart.accounts", "sync.accounts_to_crm",
            "deals.acquisition_targets", "deals.pipeline_report", "hr.pay_equity", "finance.payroll_costs"})
        levels = {node["qualified_name"]: node["level"] for node in graph["nodes"]}
        self.assertEqual((levels["crm.accounts"], levels["stg.accounts"], levels["deals.pipeline_report"]),
                         (-1, 0, 2))
        self.assertEqual([s["name"] for s in graph["systems"]], ["Hightouch", "Salesforce", "Warehouse", "Workday"])
        self.assertIn({"id": w.sales.pk, "name": "Sales"}, graph["departments"])
        into_stg = next(e for e in graph["edges"] if (e["source"], e["target"]) == (w.accounts.pk, w.stg.pk))
        self.assertEqual(into_stg["contracts"], [{"id": w.contract.pk, "name": "Accounts feed", "status": "active",
                                                  "compliance": "unknown"}])
        self.assertEqual(sorted(e["source_field"]["name"] for e in graph["field_edges"]), ["account_id", "tax_id"])
        self.assertFalse(graph["truncated"])

    def test_depth_bounds_the_walk(self):
        graph = self.graph(self.w.colleague, self.w.stg, depth=1)
        self.assertNotIn("deals.pipeline_report", self.names(graph))
        self.assertEqual(graph["field_edges"], [])  # fields not asked for

    def test_reader_with_deny_rules_of_every_kind_gets_the_map_of_a_world_without_the_hidden(self):
        w = self.w
        for obj, params in ((w.stg, {"depth": 3, "fields": "true"}), (w.accounts, {"depth": 5}),
                            (w.mart, {"depth": 2, "fields": "1"}), (w.stg_account_id, {"depth": 3}),
                            (w.tax_ref, {"depth": 2})):
            with self.subTest(obj=str(obj)):
                graph = self.graph(w.reader, obj, **params)
                self.assertMentionsNone(graph)
                with world_without_hidden_objects(w):
                    expected = self.graph(w.colleague, obj, **params)
                self.assertEqual(graph, expected)
        self.assertNotIn("deals.pipeline_report", self.names(self.graph(w.reader, w.stg, depth=3)))

    def test_hidden_root_answers_404_like_a_missing_one(self):
        w = self.w
        for obj in (w.targets, w.salaries, w.tax_id, w.payroll, w.pay_equity):
            with self.subTest(obj=str(obj)):
                hidden = self.get(w.reader, graph_url(obj))
                missing = self.get(w.reader, graph_url(obj).replace(f"/{obj.pk}/", "/999999/"))
                self.assertEqual((hidden.status_code, hidden.json()), (404, missing.json()))

    def test_bad_parameters_are_a_400_naming_them(self):
        w = self.w
        for params, key in (({"depth": 0}, "depth"), ({"depth": lineage_map.MAX_DEPTH + 1}, "depth"),
                            ({"depth": "x"}, "depth"), ({"fields": "maybe"}, "fields"), ({"colour": "red"}, "colour")):
            with self.subTest(params=params):
                response = self.get(w.colleague, graph_url(w.stg, **params))
                self.assertEqual(response.status_code, 400, response.content)
                self.assertIn(key, response.json()["errors"])

    def test_a_field_map_follows_field_mappings_only(self):
        w = self.w
        graph = self.graph(w.colleague, w.stg_account_id, depth=3)
        self.assertEqual(graph["root"], {"type": "field", "id": w.stg_account_id.pk, "dataset": w.stg.pk,
                                         "name": "account_id"})
        self.assertEqual(self.names(graph), {"crm.accounts", "stg.accounts"})
        self.assertEqual([(e["source_field"]["name"], e["target_field"]["name"]) for e in graph["field_edges"]],
                         [("account_id", "account_id")])

    def test_the_walk_stops_at_the_node_limit_and_says_so(self):
        with self.settings(ACCORD_LINEAGE_MAP_MAX_NODES=3):
            graph = self.graph(self.w.colleague, self.w.accounts, depth=5)
        self.assertTrue(graph["truncated"])
        self.assertLess(len(graph["nodes"]), 9)


class LineageMapQueryCountTests(TestCase):
    """One statement per depth level, whatever the number of datasets on it."""

    def chain(self, width: int):
        system = factories.system()
        root = factories.dataset(system=system)
        department = factories.department()
        contract = factories.contract(consumers=[department], datasets=[root])
        level = [root]
        for _ in range(3):
            nxt = [factories.dataset(system=factories.system(), owner_department=department) for _ in range(width)]
            for source in level:
                for target in nxt:
                    factories.lineage(source=source, target=target)
            level = nxt
        return root, contract

    def count(self, root, user, depth) -> int:
        client = APIClient()
        client.force_authenticate(user)
        client.get(graph_url(root, depth=depth))  # warm the access caches
        with CaptureQueriesContext(connection) as queries:
            response = client.get(graph_url(root, depth=depth, fields="true"))
        self.assertEqual(response.status_code, 200)
        return len(queries), response.json()

    def test_queries_grow_with_depth_not_with_width(self):
        from tests.mixins import make_user

        user = make_user("counter")
        narrow, _ = self.chain(1)
        wide, contract = self.chain(4)
        n_narrow, _ = self.count(narrow, user, 3)
        n_wide, graph = self.count(wide, user, 3)
        self.assertEqual(n_narrow, n_wide)
        self.assertEqual(len(graph["nodes"]), 1 + 4 * 3)
        self.assertTrue(all(e["contracts"] for e in graph["edges"] if e["source"] == wide.pk))
        n_shallow, _ = self.count(wide, user, 1)
        self.assertEqual(n_wide - n_shallow, 2)  # two more levels, one statement each


class DataFlowTests(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.w = build_map_world()

    def test_colleague_sees_systems_and_aggregated_flows(self):
        w = self.w
        flow = data_flow(w.colleague)
        stages = {s["name"]: s["stage"] for s in flow["systems"]}
        self.assertEqual(stages, {"Salesforce": "source", "Workday": "source", "Warehouse": "warehouse",
                                  "Hightouch": "destination"})
        flows = {(f["source"], f["target"]): f for f in flow["flows"]}
        self.assertEqual(set(flows), {(w.salesforce.pk, w.warehouse.pk), (w.workday.pk, w.warehouse.pk),
                                      (w.warehouse.pk, w.hightouch.pk)})
        crm = flows[(w.salesforce.pk, w.warehouse.pk)]
        self.assertEqual((crm["edges"], crm["source_datasets"], crm["target_datasets"]), (3, 1, 1))
        self.assertEqual([d["name"] for d in crm["departments"]], ["Data platform", "Sales"])
        self.assertEqual([c["name"] for c in crm["contracts"]], ["Accounts feed"])
        self.assertTrue(flows[(w.warehouse.pk, w.hightouch.pk)]["reverse_etl"])
        warehouse = next(s for s in flow["systems"] if s["name"] == "Warehouse")
        self.assertEqual(warehouse["datasets"], 6)

    def test_reader_gets_the_flows_of_a_world_without_the_hidden(self):
        w = self.w
        flow = data_flow(w.reader)
        text = json.dumps(flow)
        self.assertFalse([word for word in HIDDEN_WORDS if word.lower() in text.lower()], text)
        with world_without_hidden_objects(w):
            expected = data_flow(w.colleague)
        self.assertEqual(flow, expected)
        crm = next(f for f in flow["flows"] if f["source"] == w.salesforce.pk)
        self.assertEqual(crm["edges"], 2)  # the tax_id mapping is hidden with its field

    def test_a_fixed_number_of_statements(self):
        w = self.w
        data_flow(w.reader)
        with CaptureQueriesContext(connection) as few:
            data_flow(w.reader)
        for _ in range(5):
            source = factories.dataset(system=factories.system(kind="crm"))
            factories.lineage(source=source, target=factories.dataset(system=w.warehouse))
        with CaptureQueriesContext(connection) as more:
            data_flow(w.reader)
        self.assertEqual(len(few), len(more))
