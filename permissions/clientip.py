"""The client's address, as audit records and sign-in throttling see it.

By default it is the connection's own address (``REMOTE_ADDR``): a client can write any
``X-Forwarded-For`` it likes, so the header is never trusted unless the operator names the
proxies in front of Accord (``ACCORD_TRUSTED_PROXIES``, addresses or networks). When the
connection comes from one of them, the client is the right-most address of
``X-Forwarded-For`` that is not itself a trusted proxy (each proxy appends the address it
received the request from, so everything left of that may be made up by the client).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _address(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def is_trusted_proxy(address, proxies) -> bool:
    return address is not None and any(address in network for network in _networks(tuple(proxies)))


def client_ip(request) -> str | None:
    """The client's address for ``request`` (``None`` when the connection has none)."""
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    proxies = settings.ACCORD_TRUSTED_PROXIES
    if not proxies or not is_trusted_proxy(remote, proxies):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            break  # a malformed hop: nothing left of it can be trusted, the last proxy's view stands
        if not is_trusted_proxy(address, proxies):
            return str(address)
        remote = address
    return str(remote)
