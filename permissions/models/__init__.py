from permissions.models.base import AccordModel

__all__ = ["AccordModel"]
