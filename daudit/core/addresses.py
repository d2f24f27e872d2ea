"""Network addresses in a spec: the Dask scheduler to join and the dashboard to serve, checked.

Pure functions. A dashboard address without a host (``:8787``, ``8787``, ``:0``) means the
loopback interface: the dashboard listens on every interface only when the spec names such a
host itself (``0.0.0.0:8787``), and then `is_wildcard` lets the caller say so.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["parse_dashboard_address", "parse_scheduler_address", "is_wildcard", "LOOPBACK", "LOCAL_SCHEDULERS"]

LOOPBACK = "127.0.0.1"
LOCAL_SCHEDULERS = ("local", "threads", "synchronous")
_PROTOCOLS = ("tcp", "tls", "ucx", "ws", "wss")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def _port(text: str, *, allow_zero: bool) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text or ""):
        raise ValueError(f"the port {text!r} is not a number from {0 if allow_zero else 1} to 65535")
    port = int(text)
    if port > 65535 or (port == 0 and not allow_zero):
        raise ValueError(f"the port {port} is not a number from {0 if allow_zero else 1} to 65535")
    return port


def _host(text: str) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        if _HOSTNAME.match(text) and not text.replace(".", "").isdigit():
            return text
        raise ValueError(f"{text!r} is not a host name or an IPv4 address") from None
    if ip.version != 4:
        raise ValueError(f"{text!r} is an IPv6 address; Dask takes IPv4 addresses or host names here")
    return str(ip)


def is_wildcard(host: str) -> bool:
    """True for a host that means "every interface" (``0.0.0.0``)."""
    return host in ("0.0.0.0", "")


def parse_dashboard_address(value) -> tuple[str, int]:
    """``(host, port)`` of a dashboard address: ``HOST:PORT``, ``:PORT`` or ``PORT`` (0: any free port).

    No host means `LOOPBACK`. Raises ValueError (one line) for anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8787, got {value!r}")
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    if "/" in text or "[" in text or host.count(":"):
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:8787 (no scheme, no IPv6), got {value!r}")
    return (_host(host) if host else LOOPBACK), _port(port, allow_zero=True)


def parse_scheduler_address(value: str) -> str:
    """A scheduler to join, normalised to ``PROTOCOL://HOST:PORT`` (``HOST:PORT`` means tcp).

    Raises ValueError (one line) unless ``value`` is such an address; `LOCAL_SCHEDULERS` are not
    addresses and are handled by the caller.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected local, threads, synchronous or PROTOCOL://HOST:PORT, got {value!r}")
    text = value.strip()
    proto, sep, rest = text.partition("://")
    if not sep:
        proto, rest = "tcp", text
    if proto not in _PROTOCOLS:
        raise ValueError(f"the protocol {proto!r} of {value!r} is not one of {', '.join(_PROTOCOLS)}")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or "/" in rest or "[" in rest or ":" in host:
        raise ValueError(f"expected local, threads, synchronous or PROTOCOL://HOST:PORT "
                         f"(e.g. tcp://10.0.0.5:8786), got {value!r}")
    return f"{proto}://{_host(host)}:{_port(port, allow_zero=False)}"
