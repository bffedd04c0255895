"""Delivering OpenLineage events: to a JSON Lines file, or to an HTTP endpoint.

Lineage is a record of an operation, never a condition for it: a transport that cannot deliver
an event logs a warning on the ``loopline.lineage`` logger and returns ``False``; it does not
raise. Which transport is used follows the settings (``LOOPLINE_OPENLINEAGE_URL``, else
``LOOPLINE_OPENLINEAGE_FILE``).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from loopline.errors import LineageError, SettingsError
from loopline.settings import Settings

if sys.platform != "win32":
    import fcntl

__all__ = ["FileTransport", "HttpTransport", "Transport", "emit", "transport_from_settings"]

logger = logging.getLogger("loopline.lineage")


class Transport(Protocol):
    """Something that delivers OpenLineage events."""

    def send(self, event: Mapping[str, Any]) -> bool:
        """Deliver one event; ``True`` when delivered, ``False`` (and a warning) when not."""
        ...


class FileTransport:
    """Appends each event as one line of JSON to a file (JSON Lines).

    The folder is created when missing. Several processes may append to the same file at once:
    each line is written under an exclusive lock (where the platform has ``flock``) to a file
    opened for appending, so lines never interleave.

    Args:
        path: The file to append to.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileTransport({str(self.path)!r})"

    def send(self, event: Mapping[str, Any]) -> bool:
        """Append the event as one line; ``False`` (and a warning) when that fails."""
        try:
            line = _encode(event) + b"\n"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if sys.platform != "win32":
                    fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except (OSError, TypeError, ValueError) as exc:
            logger.warning("OpenLineage event not written to %s: %s", self.path, exc)
            return False
        return True


class HttpTransport:
    """POSTs each event as JSON to an OpenLineage HTTP endpoint.

    Args:
        url: The full endpoint, e.g. ``http://localhost:5000/api/v1/lineage`` for Marquez.
        timeout: Seconds to wait for the endpoint before giving up on an event.
        headers: Extra request headers, e.g. ``{"Authorization": "Bearer ..."}``.

    Raises:
        LineageError: The URL is not an ``http`` or ``https`` URL with a host.
    """

    def __init__(
        self, url: str, *, timeout: float = 5.0, headers: Mapping[str, str] | None = None
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise LineageError(
                f"OpenLineage endpoint {_redact(url)!r} is not an http(s) URL.",
                hint="Give the full endpoint, e.g. http://localhost:5000/api/v1/lineage.",
            )
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"HttpTransport({_redact(self.url)!r}, timeout={self.timeout})"

    def send(self, event: Mapping[str, Any]) -> bool:
        """POST the event; ``False`` (and a warning) unless the endpoint answers 2xx."""
        where = _redact(self.url)
        try:
            request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
                self.url,
                data=_encode(event),
                method="POST",
                headers={"Content-Type": "application/json", **self.headers},
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            logger.warning("OpenLineage endpoint %s answered %s %s", where, exc.code, exc.reason)
            return False
        except (OSError, http.client.HTTPException, TypeError, ValueError) as exc:
            logger.warning("OpenLineage event not delivered to %s: %s", where, exc)
            return False
        if not 200 <= status < 300:
            logger.warning("OpenLineage endpoint %s answered %s", where, status)
            return False
        return True


def transport_from_settings(settings: Settings) -> FileTransport | HttpTransport:
    """The transport the settings ask for: HTTP when an endpoint is set, else the file.

    Raises:
        SettingsError: ``LOOPLINE_OPENLINEAGE_URL`` is not an http(s) URL.
    """
    if settings.openlineage_url:
        try:
            return HttpTransport(settings.openlineage_url)
        except LineageError as exc:
            raise SettingsError(f"LOOPLINE_OPENLINEAGE_URL: {exc.message}", hint=exc.hint) from exc
    return FileTransport(settings.openlineage_file)


def emit(event: Mapping[str, Any], transport: Transport) -> bool:
    """Send an event, never raising: lineage must not break the operation it records.

    Args:
        event: An event from :func:`~loopline.lineage._openlineage.run_event`.
        transport: Where to send it.

    Returns:
        Whether the event was delivered. A failure is logged as a warning.
    """
    try:
        return transport.send(event)
    except Exception as exc:  # a third-party transport may raise anything
        logger.warning("OpenLineage transport %r failed: %r", transport, exc)
        return False


def _encode(event: Mapping[str, Any]) -> bytes:
    text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _redact(url: str) -> str:
    """The URL without a password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + netloc))
