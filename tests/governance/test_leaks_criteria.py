"""Writing state criteria never names, nor confirms, a field the writer may not see."""

from __future__ import annotations

import json

from governance.services import states
from permissions.errors import Invalid
from tests.governance.leak_world import HIDDEN_WORDS, GovernanceLeakWorld


class CriteriaValidationLeakTests(GovernanceLeakWorld):
    def refusal(self, user, field_name: str) -> dict:
        with self.assertRaises(Invalid) as caught:
            states.create_draft(definition=self.state, definition_text="Checked.",
                                criteria={"all": [{"field": field_name, "op": "is_not_null"}]}, actor=user)
        return caught.exception.errors

    def test_an_unknown_field_error_lists_only_the_fields_the_writer_sees(self):
        errors = self.refusal(self.staff_opted_out, "acount_id")
        text = json.dumps(errors)
        self.assertIn("account_id", text)  # the visible field is offered
        for word in HIDDEN_WORDS:
            self.assertNotIn(word, text)
        self.assertIn("tax_id", json.dumps(self.refusal(self.staff_colleague, "acount_id")))

    def test_a_hidden_field_is_refused_exactly_like_a_missing_one(self):
        hidden = json.dumps(self.refusal(self.staff_opted_out, "tax_id")).replace("tax_id", "NAME")
        missing = json.dumps(self.refusal(self.staff_opted_out, "no_such_field")).replace("no_such_field", "NAME")
        self.assertEqual(hidden, missing)

    def test_a_writer_who_sees_the_field_may_use_it(self):
        version = states.create_draft(definition=self.state, definition_text="Checked.",
                                      criteria={"all": [{"field": "tax_id", "op": "is_not_null"}]},
                                      actor=self.staff_colleague)
        self.assertEqual(version.criteria["all"][0]["field"], "tax_id")
