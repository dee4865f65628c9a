"""Governance models (systems of record, state definitions, contracts) live here."""
