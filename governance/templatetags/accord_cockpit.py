from django import template

from governance import cockpit

register = template.Library()


@register.inclusion_tag("admin/governance/what_needs_me.html", takes_context=True)
def what_needs_me(context):
    """The signed-in person's "what needs me" panel (governance.cockpit)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"sections": cockpit.needs(user), "request": request}
