"""Checks of an ``AccuticsClient``'s settings, made once at construction, before any request."""

from __future__ import annotations

from ssl import SSLContext
from urllib.parse import urlsplit

from ._sansio.protocol import is_loopback_url
from .errors import ConfigurationError

__all__ = ["check_number", "check_positive", "check_proxy", "check_ssl"]


def check_number(name: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise ConfigurationError(f"{name} must be a number >= {minimum}, got {value!r}")


def check_positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value < float("inf")
    ):
        raise ConfigurationError(f"{name} must be a number > 0, got {value!r}")


def check_ssl(value: object, base_url: str, allow_insecure: bool) -> None:
    if not isinstance(value, (SSLContext, bool)):
        raise ConfigurationError(
            f"ssl must be an ssl.SSLContext, True or False, got {type(value).__name__}"
        )
    # Without certificate checks anyone on the path can read the token:
    # allowed for loopback tests, or when the caller says so explicitly.
    if value is False and not (allow_insecure or is_loopback_url(base_url)):
        raise ConfigurationError(
            "ssl=False turns off certificate checks; it is allowed for a loopback "
            "base_url, or with allow_insecure=True"
        )


def check_proxy(proxy: object) -> None:
    if proxy is None:
        return
    parts = urlsplit(proxy) if isinstance(proxy, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # The value is not quoted: a proxy URL can carry a password.
        raise ConfigurationError("proxy must be an http:// or https:// URL with a host")
