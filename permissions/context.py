"""Who is acting, and why: the context every audit record is written under.

A web request sets it in ``RequestContextMiddleware``; work outside a request
(Celery tasks, management commands, scripts) must enter ``system_actor()`` or
``actor_context()`` explicitly. A write to an audited model with no actor raises
``MissingActorError`` when ``ACCORD_AUDIT_REQUIRE_ACTOR`` is on (always in tests):
a change nobody is accountable for is a bug, not a silent gap.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace


class MissingActorError(RuntimeError):
    pass


@dataclass(frozen=True)
class Actor:
    """A person (``user`` set) or a named system component (``system`` set)."""

    user: object | None = None
    system: str = ""

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return f"system:{self.system}"

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "pk", None)


@dataclass(frozen=True)
class AuditContext:
    actor: Actor | None = None
    request: object | None = None  # the HttpRequest, whose user DRF may set later
    #: The server's id of this unit of work (a web request, a task, a command): made here,
    #: never taken from the caller.
    request_id: str = ""
    #: The caller's ``X-Request-ID``, when well-formed: echoed, logged and recorded, never trusted.
    client_request_id: str = ""
    client_ip: str | None = None
    user_agent: str = ""
    reason: str = ""
    extra: dict = field(default_factory=dict)
    #: What the trust layer remembers for the rest of one web request (the access generation,
    #: a reader's subjects): a new dict per request, made by ``request_context``, so nothing a
    #: caller sends can make two requests share it. ``None`` outside requests: nothing is kept.
    request_cache: dict | None = field(default=None, compare=False, repr=False)

    def resolved_actor(self) -> Actor | None:
        if self.actor is not None:
            return self.actor
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            return Actor(user=user)
        return None


_current: ContextVar[AuditContext | None] = ContextVar("accord_audit_context", default=None)


def current() -> AuditContext | None:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def _entered(ctx: AuditContext) -> Iterator[AuditContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def request_context(request, request_id: str, client_request_id: str = ""
                    ) -> contextlib.AbstractContextManager[AuditContext]:
    from permissions.clientip import client_ip

    return _entered(AuditContext(
        request=request, request_id=request_id, client_request_id=client_request_id, client_ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300], request_cache={},
    ))


def request_cache() -> dict | None:
    """The current web request's own cache (``AuditContext.request_cache``), or ``None``."""
    ctx = current()
    return ctx.request_cache if ctx is not None else None


def _system_context(component: str, reason: str) -> AuditContext:
    if not reason:
        raise ValueError("A system actor needs a reason (what the work is for).")
    return AuditContext(actor=Actor(system=component), request_id=new_request_id(), reason=reason)


def system_actor(component: str, *, reason: str) -> contextlib.AbstractContextManager[AuditContext]:
    """Run work outside a request as a named system component, with a reason."""
    return _entered(_system_context(component, reason))


def become_system_actor(component: str, *, reason: str) -> AuditContext:
    """Make the current thread a named system component for the rest of its life (a long-lived
    process such as Celery beat, whose own bookkeeping runs outside any task). Never left."""
    ctx = _system_context(component, reason)
    _current.set(ctx)
    return ctx


def actor_context(user, *, reason: str = "", request_id: str = "") -> contextlib.AbstractContextManager[AuditContext]:
    """Run work as a given person (a command run on someone's behalf, a test)."""
    parent = current()
    base = parent or AuditContext()
    return _entered(replace(base, actor=Actor(user=user), reason=reason or base.reason,
                            request_id=request_id or base.request_id or new_request_id()))


@contextlib.contextmanager
def reason(text: str) -> Iterator[None]:
    """Attach a reason to the changes made inside the block."""
    parent = current() or AuditContext()
    with _entered(replace(parent, reason=text)):
        yield


def as_actor(actor) -> Actor:
    """Who acts, as an ``Actor``: a signed-in user becomes ``Actor(user=...)``; an ``Actor`` is
    kept (``Actor(system="beat")`` is the system). Nobody (``None``, an anonymous user) is refused."""
    if isinstance(actor, Actor):
        if actor.user is None and not actor.system:
            raise MissingActorError("An Actor names a user or a system component.")
        return actor
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise MissingActorError("This change needs an actor: a signed-in user, or Actor(system=...) for the system.")
    return Actor(user=actor)


def acting_as(actor, *, reason: str = "") -> contextlib.AbstractContextManager[AuditContext]:
    """Run a service's work as ``actor`` (a user or an ``Actor``): the records written inside
    name it, whoever the surrounding context names. The surrounding request id and client are
    kept, and its reason unless ``reason`` is given."""
    parent = current() or AuditContext()
    return _entered(replace(parent, actor=as_actor(actor), reason=reason or parent.reason,
                            request_id=parent.request_id or new_request_id()))
