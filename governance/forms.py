"""Forms that carry a governance service's refusals as form errors (the admin's change pages)."""

from __future__ import annotations

from django import forms

from governance.services import contracts as contract_services
from permissions.errors import Refused


def contract_form_for(base: type[forms.ModelForm], user) -> type[forms.ModelForm]:
    """``base`` (the admin's contract form) refusing, next to the field, a change of the parties or datasets
    of a contract whose version is proposed or active (``contract_services.check_contract_change``)."""

    class ContractForm(base):
        def clean(self):
            cleaned = super().clean()
            if self.instance.pk is None:
                return cleaned
            try:
                contract_services.check_contract_change(self.instance, seen_by=user, **{
                    name: cleaned[name] for name in ("producer", "consumers", "datasets") if name in cleaned})
            except Refused as exc:
                for name, messages in exc.errors.items():
                    if name in self.fields:
                        self.add_error(name, messages)
                    else:
                        self.add_error(None, messages)
            return cleaned

    return ContractForm
