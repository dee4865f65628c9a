"""Compliance checks of data contracts.

``governance.checks.metadata``: the registry against the contract; ``governance.checks.data``: a contract's data
checks and state conformance against a dataset's live source.
"""
