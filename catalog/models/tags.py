from django.core.validators import RegexValidator
from django.db import models

from permissions.access import AccessSpec
from permissions.models import AccordModel


class Tag(AccordModel):
    """A free label attached to datasets and fields (e.g. "gdpr", "revenue")."""

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    color = models.CharField(
        max_length=7,
        blank=True,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Give the colour as #RRGGBB.")],
    )

    access = AccessSpec(targetable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
