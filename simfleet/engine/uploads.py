"""The HTTP upload of a charger's diagnostics or log file (OCPP 1.6 §5.9, whitepaper GetLog).

The location a CSMS gives is a directory (§5.9: "the location (directory) where the diagnostics
file shall be uploaded to"), so the file goes to `location/fileName` with an HTTP PUT: the
request names the file, as an FTP STOR (the transfer OCPP had in mind) or `curl -T FILE URL/`
does. A POST would need a form layout (field names, multipart) that OCPP does not define.
User and password in the URL become Basic auth. Stdlib only (asyncio streams, no thread): one
connection per attempt, `Connection: close`, the whole exchange bounded by a timeout. Any 2xx
answer is success; anything else, a network error or the timeout is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from typing import Final
from urllib.parse import SplitResult, quote, unquote, urlsplit

USER_AGENT: Final = "simfleet"


def upload_url(location: str, file_name: str) -> str:
    """Where the file goes: the location, a directory, joined with the file name."""
    parts = urlsplit(location)
    path = parts.path.rstrip("/") + "/" + quote(file_name)
    return parts._replace(path=path).geturl()


async def http_put(location: str, file_name: str, body: bytes, timeout_s: float) -> int:
    """PUT `body` as `location/file_name`; returns the HTTP status, or 0 if the upload did not
    get an answer (network error, TLS error, timeout, not an http(s) URL)."""
    url = urlsplit(upload_url(location, file_name))
    if url.scheme not in ("http", "https") or not url.hostname:
        return 0
    tls = ssl.create_default_context() if url.scheme == "https" else None
    try:
        port = url.port or (443 if tls else 80)
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(url.hostname, port, ssl=tls)
            try:
                writer.write(_request_head(url, url.hostname, port, len(body)) + body)
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (OSError, ssl.SSLError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return 0
    return _status(status_line)


def _request_head(url: SplitResult, host: str, port: int, length: int) -> bytes:
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    if ":" in host:  # an IPv6 literal goes in brackets
        host = f"[{host}]"
    default_port = 443 if url.scheme == "https" else 80
    lines = [
        f"PUT {target} HTTP/1.1",
        f"Host: {host}" if port == default_port else f"Host: {host}:{port}",
        f"User-Agent: {USER_AGENT}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {length}",
        "Connection: close",
    ]
    if url.username is not None:
        credentials = f"{unquote(url.username)}:{unquote(url.password or '')}"
        lines.append("Authorization: Basic " + base64.b64encode(credentials.encode()).decode())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status(line: bytes) -> int:
    """The status code of an HTTP/1.x status line (0 if it is not one)."""
    fields = line.split(None, 2)
    if len(fields) >= 2 and fields[0].startswith(b"HTTP/") and fields[1].isdigit():
        return int(fields[1])
    return 0
