from django.core.validators import RegexValidator
from django.db import models

from catalog.choices import ConnectionEngine, SystemKind
from permissions.access import AccessSpec
from permissions.models import AccordModel

env_var_name = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$",
    "Name an environment variable (upper case letters, digits and _), never the connection string itself.",
)


class System(AccordModel):
    """A system that holds data: Salesforce, NetSuite, the warehouse…

    A connection is never stored in the database: ``connection_env`` names the
    environment variable that holds the DSN on the machines that run checks.
    """

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=SystemKind.choices, default=SystemKind.OTHER)
    vendor = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    owner_department = models.ForeignKey(
        "catalog.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="systems"
    )
    connection_engine = models.CharField(max_length=16, choices=ConnectionEngine.choices, blank=True, default="")
    connection_env = models.CharField(
        max_length=120,
        blank=True,
        validators=[env_var_name],
        help_text="Environment variable holding the connection string (DSN) for harvesting and checks.",
    )

    access = AccessSpec(targetable=True)
    edit_department = "owner_department"

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(connection_engine="") | ~models.Q(connection_env=""),
                name="system_connection_names_env",
                violation_error_message="A connection needs the environment variable that holds its DSN.",
            ),
        ]

    def __str__(self) -> str:
        return self.name
