"""Who is asking: the one rule for a client's address, used by rate limits and local-only answers.

Behind a proxy every request comes from the proxy's address, so the address it saw must be read
from a header; but a header is whatever the client wrote unless a proxy we trust overwrites it.
So the header is believed only when the operator names it (DJANGO_CLIENT_IP_HEADER, for example
HTTP_X_FORWARDED_FOR), and then only its last entry: the one our own proxy appended. Without the
setting, the address is the connection's (REMOTE_ADDR), which a client cannot choose.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The address rate limits count and local-only answers check."""
    header = settings.CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get(header, "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR", "")


def is_local(request: HttpRequest) -> bool:
    """Whether the client is on this machine (a loopback address), by the rule above."""
    try:
        return ipaddress.ip_address(client_ip(request)).is_loopback
    except ValueError:
        return False
