"""The scorecard in the admin: the page the council opens in its meetings (and its printable form),
the daily snapshots (read-only) and the council's meeting dates (set by the council, audited)."""

from __future__ import annotations

from django.contrib import admin
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from governance import scorecard
from governance.models import CouncilMeeting, ScorecardSnapshot
from permissions.admin_base import AccordModelAdmin, ReadOnlyAdmin
from permissions.visibility import can_read_catalog


def _shown(value, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:g}%"
    if unit == "seconds":
        minutes = round(value / 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, minutes = divmod(rest, 60)
        return " ".join(part for part in (f"{days}d" if days else "", f"{hours}h" if hours else "",
                                          f"{minutes}m" if minutes or not (days or hours) else "") if part)
    return str(value)


def _change(metric: dict) -> tuple[str, str]:
    """The change since the last council meeting, and whether it is for the better."""
    change = metric["change_since_meeting"]
    if change is None:
        return "", ""
    if change == 0:
        return "±0", ""
    sign = "+" if change > 0 else "−"
    better = (change > 0) == metric["higher_is_better"]
    suffix = " pts" if metric["unit"] == "percent" else ""
    amount = abs(change) if metric["unit"] != "seconds" else _shown(abs(change), "seconds")
    return f"{sign}{amount}{suffix}", "better" if better else "worse"


def _decorate(metrics: list[dict], prefix: str) -> None:
    for metric in metrics:
        metric["shown"] = _shown(metric["value"], metric["unit"])
        metric["change_shown"], metric["change_sense"] = _change(metric)
        metric["chart_id"] = f"{prefix}-{metric['key']}".replace(".", "-")


@admin.register(ScorecardSnapshot)
class ScorecardSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "day", "department", "computed_at"]
    list_filter = [("department", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["department__name"]
    date_hierarchy = "day"
    list_select_related = ["department"]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("scorecard/", view(self.scorecard_view), name="governance_scorecard"),
                path("scorecard/print/", view(self.scorecard_view), {"printable": True},
                     name="governance_scorecard_print"),
                *super().get_urls()]

    def scorecard_view(self, request, printable: bool = False):
        """The scorecard, counted over what the person may see (``governance.scorecard``)."""
        if not can_read_catalog(request.user):
            raise Http404
        wanted = request.GET.get("department") or None
        card = scorecard.scorecard(request.user, department_slug=wanted)
        if card is None:
            raise Http404("No such department.")
        trends = {}
        if "organisation" in card:
            _decorate(card["organisation"]["metrics"], "organisation")
        for department in card["departments"]:
            _decorate(department["metrics"], department["slug"])
        if card["trends_shown"]:
            scopes = [card["organisation"]] if "organisation" in card else []
            for scope in scopes + card["departments"]:
                for metric in scope["metrics"]:
                    if metric["trend"]:
                        trends[metric["chart_id"]] = metric["trend"]
        csv_url = reverse("scorecard") if wanted is None else reverse("scorecard-department", args=[wanted])
        return TemplateResponse(request, "admin/governance/scorecard/page.html", {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": "Scorecard" + (f": {card['departments'][0]['name']}" if wanted else ""),
            "card": card, "printable": printable, "department": wanted, "trends": trends,
            "csv_url": f"{csv_url}?format=csv", "stages": scorecard.STAGES, "bands": scorecard.BANDS,
            "all_departments": [(d["slug"], d["name"]) for d in scorecard.department_choices(request.user)],
        })


@admin.register(CouncilMeeting)
class CouncilMeetingAdmin(AccordModelAdmin):
    list_display = ["held_on", "notes"]
    search_fields = ["notes"]
    date_hierarchy = "held_on"
