"""The ``accord`` command-line client for pipelines (see docs/cli.md)."""
