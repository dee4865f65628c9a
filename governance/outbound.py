"""Where webhook deliveries may go: public addresses only, checked after DNS resolution.

A subscription's URL is checked when it is saved (``validate_webhook_url``: the API and the admin
answer with a form error) and again on every send, by the transport deliveries use
(``PinnedTransport``): the host is resolved once, every address it resolves to must be allowed,
and the connection goes to a checked address, so a name cannot resolve to a public address for
the check and to an internal one for the connection (DNS rebinding).

Refused: loopback, private (RFC 1918, unique-local ``fc00::/7``), link-local, shared
(``100.64.0.0/10``), multicast, reserved, unspecified and documentation addresses (everything
``ipaddress`` does not call global), IPv6 addresses that embed such an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64), and the cloud metadata addresses in ``METADATA_ADDRESSES``.
``ACCORD_WEBHOOK_ALLOWED_NETWORKS`` lists networks that are allowed all the same (a receiver
inside the company network, the tests' receiver on 127.0.0.1); metadata addresses stay refused
whatever it lists.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Instance metadata and platform services of the clouds, which hand out credentials to whoever asks
#: from inside the instance. Most are link-local or unique-local anyway; listed so that no allowed
#: network can let them through.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(address) for address in (
    "169.254.169.254",  # AWS, Google Cloud, Azure, OpenStack, DigitalOcean, Oracle Cloud and more
    "169.254.170.2",  # AWS ECS task credentials
    "169.254.169.253",  # AWS VPC DNS
    "169.254.169.123",  # AWS time sync
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fd00:ec2::253",  # AWS VPC DNS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "168.63.129.16",  # Azure platform (WireServer), a public-looking address
    "192.0.0.192",  # Oracle Cloud (classic)
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
DEFAULT_PORTS = {"http": 80, "https": 443}


class Refused(Exception):
    """A host that may not be sent to; the message says which address and why (never the URL's path)."""


class Unresolvable(Exception):
    """A host that does not resolve (now): a send is retried, a save is allowed."""


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order (tests replace this function)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} could not be resolved ({getattr(exc, 'strerror', None) or exc})") from exc
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


@lru_cache(maxsize=8)
def _networks(listed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in listed)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is where the packets go
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not be sent to, or None when it may."""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the same host, whichever way it is written
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(address in network for network in _networks(tuple(settings.ACCORD_WEBHOOK_ALLOWED_NETWORKS))):
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None and (reason := refusal(embedded)):
        return f"an IPv6 address for {embedded}, {reason}"
    for test, reason in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                         ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
                         ("is_private", "a private address"), ("is_reserved", "a reserved address")):
        if getattr(address, test):
            return reason
    if address.version == 6 and address.is_site_local:
        return "a site-local address"
    if not address.is_global:
        return "not a public address"
    return None


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` once and return its addresses if every one is allowed; else ``Refused``, naming the
    first that is not (a name with one internal address among public ones is refused: the resolver may
    hand out any of them)."""
    addresses = resolve(host, port)
    if not addresses:
        raise Unresolvable(f"{host} could not be resolved")
    for address in addresses:
        if reason := refusal(address):
            where = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
            listed = "" if reason == "a cloud metadata address" else ", not in ACCORD_WEBHOOK_ALLOWED_NETWORKS"
            raise Refused(f"{where} {reason}{listed}")
    return addresses


def host_and_port(url: httpx.URL) -> tuple[str, int]:
    return url.raw_host.decode("ascii"), url.port or DEFAULT_PORTS.get(url.scheme, 0)


def validate_webhook_url(value: str) -> None:
    """A ValidationError when ``value`` points at an address deliveries may not go to. A name that does not
    resolve now is accepted (its receiver may not be up yet): every send checks again."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        return  # the URL field's own validation says what is wrong with it
    if url.scheme not in DEFAULT_PORTS or not url.raw_host:
        return
    try:
        checked_addresses(*host_and_port(url))
    except Refused as exc:
        raise ValidationError(f"Webhooks may only go to public addresses: {exc}.", code="address_refused") from exc
    except Unresolvable:
        return


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that checks each request's host (``checked_addresses``) and connects to the
    address it checked: the request goes to that IP, with the Host header and the TLS server name
    (SNI and the certificate's check) of the URL's host. Each (host, address) has its own connection
    pool, so a TLS connection made for one host never carries another host's request."""

    def __init__(self, **transport_options):
        self._options = transport_options
        self._pools: dict[tuple[str, str, int, str], httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host, port = host_and_port(request.url)
        *others, last = checked_addresses(host, port)
        for address in others:
            try:
                return self._send_to(address, host, port, request)
            except httpx.ConnectError:
                continue  # nothing was sent: the next checked address may answer
        return self._send_to(last, host, port, request)

    def _send_to(self, address: IPAddress, host: str, port: int, request: httpx.Request) -> httpx.Response:
        key = (request.url.scheme, host, port, str(address))
        if key not in self._pools:
            self._pools[key] = httpx.HTTPTransport(**self._options)
        pinned = httpx.Request(request.method, request.url.copy_with(host=str(address)), headers=request.headers,
                               stream=request.stream, extensions={**request.extensions, "sni_hostname": host})
        return self._pools[key].handle_request(pinned)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
