"""Replacing the lineage edges one source of edges made (a harvest, a dbt project) with those it
finds now, leaving everyone else's alone."""

from __future__ import annotations

from collections.abc import Callable


def replace_edges(wanted: dict[tuple, dict], existing: dict[tuple, object], others: set[tuple], counts: dict,
                  new_edge: Callable[[tuple, dict], object]) -> None:
    """Bring the edges this source made (``existing``, by ``(source, target, source field, target
    field)``) in line with ``wanted`` (the same keys to the values the edge should hold): add what is
    missing (``new_edge(key, values)``, unsaved), update what differs, delete what is no longer wanted,
    each through the model's audited save or delete. A key in ``others`` (an edge people drew, or
    another source made, between the same ends) is left to them and not doubled. ``counts`` gets
    added, changed, removed and unchanged."""
    for key, values in wanted.items():
        if key in others:
            continue
        edge = existing.get(key)
        if edge is None:
            new_edge(key, values).save()
            counts["added"] += 1
        elif any(getattr(edge, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(edge, name, value)
            edge.save()
            counts["changed"] += 1
        else:
            counts["unchanged"] += 1
    for key in set(existing) - set(wanted):
        existing[key].delete()
        counts["removed"] += 1
