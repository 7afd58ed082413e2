"""Carrying a notification: an HTTP POST to an address checked first and connected to as
checked (no second lookup a rebinding DNS could answer differently), never following a
redirect; or a mail through the installation's SMTP server."""

from __future__ import annotations

import http.client
import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from urllib.parse import urlsplit

import attrs

from machete_core.errors import AddressNotAllowedError, InvalidInputError
from machete_core.settings import Settings
from machete_core.sources.netguard import AddressPolicy

TIMEOUT_S = 10.0
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
#: What is read of an answer (the status is what counts).
MAX_ANSWER = 64 * 1024


@attrs.frozen
class Sent:
    ok: bool
    status_code: int | None = None
    error: str | None = None


def policy(settings: Settings) -> AddressPolicy:
    """Public addresses, plus the networks an admin allowed for notifications."""
    return AddressPolicy.from_strings(
        settings.notify_allowed_networks,
        hint="an admin can allow networks for notifications with "
        "MACHETE_NOTIFY_ALLOWED_NETWORKS=CIDR,...",
    )


def check_url(url: str, settings: Settings) -> str:
    """Refuse a target that is not an http(s) URL or reaches a private address; returns what
    listings may show of it (scheme and host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(
            f"a notification target must be an http(s) URL, not {parts.scheme or url[:20]!r}"
        )
    if parts.username or parts.password:
        raise InvalidInputError("put no credentials in a notification URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInputError("the URL's port is not a number") from None
    policy(settings).resolve(parts.hostname, port)
    return f"{parts.scheme}://{parts.hostname}/…"


def check_address(address: str) -> str:
    """One plain address: no display name, no second recipient, no header injection."""
    if not EMAIL.fullmatch(address):
        raise InvalidInputError(f"{address[:80]!r} is not an e-mail address")
    return address


class _PinnedConnection(http.client.HTTPSConnection):
    """Connects to one of the addresses checked for ``host`` (TLS checked against ``host``)."""

    def __init__(
        self, host: str, port: int, addresses: list[tuple[str, int]], *, tls: bool
    ) -> None:
        super().__init__(host, port, timeout=TIMEOUT_S, context=ssl.create_default_context())
        self._addresses = addresses
        self._tls = tls

    def connect(self) -> None:
        errors: list[str] = []
        for address in self._addresses:
            try:
                sock = socket.create_connection(address, timeout=TIMEOUT_S)
            except OSError as exc:
                errors.append(str(exc))
                continue
            if self._tls:
                sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
            self.sock = sock
            return
        raise OSError(f"cannot connect to {self.host}: {errors[-1] if errors else 'no address'}")


def post(url: str, body: bytes, headers: dict[str, str], rules: AddressPolicy) -> Sent:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = rules.resolve(host, port)
    except AddressNotAllowedError as exc:
        return Sent(False, error=exc.message)
    addresses = [(str(info[4][0]), int(info[4][1])) for info in infos]
    conn = _PinnedConnection(host, port, addresses, tls=parts.scheme == "https")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("POST", path, body=body, headers={"User-Agent": "MACHETE", **headers})
        answer = conn.getresponse()
        answer.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Sent(False, error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()
    if 200 <= answer.status < 300:
        return Sent(True, answer.status)
    # A redirect is not followed: it could point anywhere the guard would refuse.
    return Sent(False, answer.status, f"HTTP {answer.status}")


def mail(to: str, subject: str, text: str, settings: Settings) -> Sent:
    if not settings.smtp_host:
        return Sent(False, error="no SMTP server is set (MACHETE_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Sent(False, error=f"{type(exc).__name__}: {exc}"[:500])
    if refused:
        return Sent(False, error=f"refused recipients: {', '.join(refused)}")
    return Sent(True)
