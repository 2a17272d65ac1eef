"""URLs as text: the one rule for credentials in them (`redact`) and the syntax checks a URL
passes before any request (`check_url`). A leaf: http.py, hub.py and urls.py all use it.
"""

from __future__ import annotations

import re
import urllib.parse

from emb_cli.errors import InputError, first_line

# scheme://user:password@host: the userinfo part of any URL inside a message
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


def redact(text: str) -> str:
    """The one rule for credentials in a URL: the userinfo is never shown.

    `https://user:s3cretPW@host/m.safetensors` is shown as `https://***@host/m.safetensors`,
    wherever a URL is named: the source line, JSON, errors, --verbose, and the messages of
    httpx that quote the URL. The request itself still sends them (HTTP Basic auth).
    """
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


def check_url(url: str, shown: str) -> None:
    """A URL httpx can request, checked before any work: an IPv6 literal left open, a port
    past 65535, a host label over 63 characters (idna refuses it mid-request)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise InputError(f"{shown} is not a valid URL: {first_line(exc)}") from None
    host = parts.hostname or ""
    if not host:
        raise InputError(f"{shown} is not a valid URL: no host")
    if host.startswith("[") or ":" in host:
        return  # an IPv6 literal, checked by urlsplit
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
        raise InputError(
            f"{shown} is not a valid URL: a host name has labels of 1 to 63 characters "
            "and at most 253 in all"
        )
    try:
        host.encode("idna")
    except UnicodeError as exc:
        raise InputError(f"{shown} is not a valid URL: host {host!r}: {exc}") from None
