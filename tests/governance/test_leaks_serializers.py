"""Governance API responses show a contractor nothing they may not see (tests/governance/leak_world.py)."""

from __future__ import annotations

from tests.governance.leak_world import HIDDEN_WORDS, GovernanceLeakWorld, without_placeholders

API = "/api/v1/"


class GovernanceSerializerLeakTests(GovernanceLeakWorld):
    def detail_urls(self) -> list[str]:
        return [
            f"{API}business-entities/{self.entity.pk}/",
            f"{API}state-workflows/{self.workflow.pk}/",
            f"{API}state-definition-versions/{self.state_version.pk}/",
            f"{API}contracts/{self.contract.pk}/",
            f"{API}contract-versions/{self.version.pk}/",
            f"{API}compliance-runs/{self.compliance_run.pk}/",
            f"{API}incidents/{self.incident.pk}/",
        ]

    def list_urls(self) -> list[str]:
        return [f"{API}{name}/?page_size=100" for name in (
            "business-entities", "systems-of-record", "state-workflows", "state-definitions",
            "state-definition-versions", "contracts", "contract-versions", "compliance-runs", "incidents")]

    def test_the_colleague_reads_the_hidden_names(self):
        colleague = self.client_for(self.colleague)
        text = " ".join(colleague.get(url).content.decode() for url in self.detail_urls())
        for word in ("tax_id", "acquisition", "company_name"):
            self.assertIn(word, text)

    def test_no_detail_or_list_names_a_hidden_object(self):
        contractor = self.client_for(self.opted_out)
        for url in self.detail_urls() + self.list_urls():
            with self.subTest(url=url):
                response = contractor.get(url)
                self.assertEqual(response.status_code, 200, response.content)
                self.assertMentionsNone(response.content.decode(), HIDDEN_WORDS)

    def test_details_equal_a_world_without_the_hidden_objects(self):
        contractor = self.client_for(self.opted_out)
        seen = {url: contractor.get(url).json() for url in self.detail_urls()}
        with self.world_without_hidden_objects():
            colleague = self.client_for(self.colleague)
            for url, body in seen.items():
                with self.subTest(url=url):
                    expected = colleague.get(url).json()
                    # Texts keep a placeholder phrase ("1 field you cannot see"): checked above and below.
                    for row in body.get("results", []) + expected.get("results", []):
                        row.pop("message")
                    body.pop("criteria_text", None), expected.pop("criteria_text", None)
                    self.assertEqual(without_placeholders(body), without_placeholders(expected))

    def test_placeholders_say_how_many_without_naming(self):
        contractor = self.client_for(self.opted_out)
        version = contractor.get(f"{API}contract-versions/{self.version.pk}/").json()
        self.assertEqual(version["terms"]["schema"][-1], {"hidden": 1})
        self.assertEqual(version["terms"]["schema"][0]["fields"][-1], {"hidden": 1})
        self.assertEqual(version["terms"]["quality"][-1], {"hidden": 2})
        self.assertEqual(version["changes"][-1], {"hidden": 2})
        state = contractor.get(f"{API}state-definition-versions/{self.state_version.pk}/").json()
        self.assertEqual(state["criteria"], {"all": [{"field": "account_id", "op": "is_not_null"}, {"hidden": 1}]})
        self.assertIn("1 condition you cannot see", state["criteria_text"])
        run = contractor.get(f"{API}compliance-runs/{self.compliance_run.pk}/").json()
        self.assertEqual(run["summary"], {"pass": 2, "fail": 1, "error": 0, "hidden": 2})
        self.assertEqual(len(run["results"]), 3)
        owned = next(r for r in run["results"] if r["key"] == "metadata:accounts:fields_owned")
        self.assertEqual(owned["message"], "No owner (person and department): account_id, 1 field you cannot see.")
        incident = contractor.get(f"{API}incidents/{self.incident.pk}/").json()
        self.assertEqual(incident["summary"]["failing_rules"], ["metadata:accounts:fields_owned", {"hidden": 2}])
        workflow = contractor.get(f"{API}state-workflows/{self.workflow.pk}/").json()
        self.assertIsNone(workflow["state_field"])

    def test_a_patch_of_visible_datasets_keeps_the_hidden_ones(self):
        client = self.client_for(self.staff_opted_out)
        for url, model in ((f"{API}contracts/{self.contract.pk}/", self.contract),
                           (f"{API}business-entities/{self.entity.pk}/", self.entity)):
            with self.subTest(url=url):
                response = client.patch(url, {"datasets": [self.accounts.pk]}, format="json")
                self.assertEqual(response.status_code, 200, response.content)
                self.assertEqual(set(model.datasets.values_list("pk", flat=True)),
                                 {self.accounts.pk, self.targets.pk})
                self.assertMentionsNone(response.content.decode(), HIDDEN_WORDS)

    def test_a_writer_who_sees_every_dataset_can_remove_one(self):
        # Keeping what the writer cannot see must not keep what they can: with no deny rule
        # applying to them, nothing is kept that the list leaves out.
        response = self.client_for(self.staff_colleague).patch(
            f"{API}business-entities/{self.entity.pk}/", {"datasets": [self.accounts.pk]}, format="json")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(set(self.entity.datasets.values_list("pk", flat=True)), {self.accounts.pk})

    def test_a_hidden_duplicate_answers_like_a_visible_one(self):
        client = self.client_for(self.staff_opted_out)
        hidden = client.post(f"{API}fields/", {"dataset": self.accounts.pk, "name": "tax_id", "data_type": "text"},
                             format="json")
        visible = client.post(f"{API}fields/", {"dataset": self.accounts.pk, "name": "account_id",
                                                "data_type": "text"}, format="json")
        self.assertEqual(hidden.status_code, 400, hidden.content)
        self.assertEqual(hidden.json(), visible.json())
        system = client.post(f"{API}systems/", {"name": "HR", "slug": "workday", "kind": "hris"}, format="json")
        taken = client.post(f"{API}systems/", {"name": "W2", "slug": "warehouse", "kind": "hris"}, format="json")
        self.assertEqual(system.status_code, 400, system.content)
        self.assertEqual(system.json(), taken.json())
        self.assertMentionsNone(hidden.content.decode() + system.content.decode(), HIDDEN_WORDS)
