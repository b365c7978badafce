"""Who is on the other end of a request. Limits and the audit log key on this, so it must not
be something a client can choose: X-Forwarded-For is read only when settings say how many
reverse proxies of ours stand in front (each appends the address it saw, so the Nth entry
from the right is the one our outermost proxy wrote; anything left of it is the client's word)."""
from __future__ import annotations

import ipaddress

from aiohttp import web

from bot.app_keys import SETTINGS

UNKNOWN = "unknown"


def forwarded_address(header: str, proxies: int) -> str | None:
    """The address `proxies` hops from the right of an X-Forwarded-For value, else None."""
    hops = [part.strip() for part in header.split(",") if part.strip()]
    if proxies < 1 or len(hops) < proxies:
        return None
    return hops[-proxies][:64]


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, unless GATEWAY_TRUSTED_PROXIES says to believe that
    many proxies' X-Forwarded-For entries."""
    proxies = request.app[SETTINGS].trusted_proxies
    if proxies > 0:
        found = forwarded_address(",".join(request.headers.getall("X-Forwarded-For", [])), proxies)
        if found:
            return found
    return request.remote or UNKNOWN


def limit_key(address: str) -> str:
    """What per-address limits count by: an IPv4 address, or an IPv6 address's /64 (one
    customer's line usually has a whole /64, so counting single IPv6 addresses would count
    nothing)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
