"""A version's change list through the redactor: a change about a hidden schema object's field, or
about a hidden column the new terms no longer hold (a removed field), is dropped for a reader who
may not see it, like a change naming the object itself."""
from __future__ import annotations

from governance.redaction import Redactor, is_placeholder
from tests.governance.leak_world import TERMS, GovernanceLeakWorld

TERMS_WITHOUT_TAX_ID = {
    "schema": [{**TERMS["schema"][0], "fields": [TERMS["schema"][0]["fields"][0]]}, TERMS["schema"][1]],
    "quality": [],
}

CHANGES = [
    {"class": "breaking", "change": "type of targets.company_name changed: text → varchar(10)"},
    {"class": "breaking", "change": "quality rule not_null on targets.company_name removed"},
    {"class": "breaking", "change": "field accounts.tax_id removed or renamed"},
    {"class": "breaking", "change": "schema object targets removed"},
    {"class": "cosmetic", "change": "description of accounts.account_id changed"},
]


class ChangeListLeakTests(GovernanceLeakWorld):
    def shown(self, user, terms):
        return Redactor(user).changes(CHANGES, terms=terms, contract_id=self.contract.pk)

    def test_changes_about_hidden_objects_and_columns_are_dropped(self):
        for terms in (TERMS, TERMS_WITHOUT_TAX_ID):
            shown = self.shown(self.opted_out, terms)
            texts = [c["change"] for c in shown if not is_placeholder(c)]
            self.assertEqual(texts, ["description of accounts.account_id changed"], terms)
            self.assertTrue(is_placeholder(shown[-1]))
            for word in ("targets", "company_name", "tax_id"):
                self.assertNotIn(word, repr(texts))

    def test_a_reader_who_sees_everything_gets_every_change(self):
        self.assertEqual(self.shown(self.colleague, TERMS_WITHOUT_TAX_ID), CHANGES)
