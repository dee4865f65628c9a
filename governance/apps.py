from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_ensure_housekeeping, dispatch_uid="accord_housekeeping_tasks")

        from catalog.signals import schema_changed

        schema_changed.connect(_schema_drift, dispatch_uid="accord_schema_drift_checks")

        from permissions.checkpoints import checkpoint_signed

        checkpoint_signed.connect(_checkpoint_signed, dispatch_uid="accord_audit_checkpoint_event")

        from governance.services.history import kept_history
        from permissions.deletion import register_guard

        register_guard(kept_history)  # deleting a catalog object never deletes governance history

        from catalog.lineage_map import register_edge_marker
        from governance.maps import contract_marks

        register_edge_marker("contracts", contract_marks)  # the lineage map marks the edges contracts cover


def _checkpoint_signed(sender, line, **kwargs) -> None:
    """A signed audit checkpoint was stored: send it to its subscribers (the ``audit.checkpoint`` event)."""
    from governance.services.notifications import emit_audit_checkpoint

    emit_audit_checkpoint(line)


def _schema_drift(sender, dataset, changes, **kwargs) -> None:
    """A covered dataset's fields changed: check the contracts that cover it."""
    from governance.services.compliance import schema_drift
    from permissions.context import Actor

    # Runs after the registration's commit, in the registering request: the checks are the
    # system's answer to the change (and keep the request's id), not the registrant's request.
    schema_drift(dataset, changes=changes, actor=Actor(system="schema-drift"))


def _ensure_housekeeping(sender, app_config=None, **kwargs) -> None:
    if app_config is None or app_config.label != "governance":
        return
    from governance.services.schedules import ensure_housekeeping_tasks
    from permissions.context import system_actor

    with system_actor("migrate", reason="Ensure Accord's periodic housekeeping tasks") as audit_context:
        ensure_housekeeping_tasks(actor=audit_context.actor)
