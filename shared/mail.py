"""Sending one e-mail: through SendGrid (SENDGRID_API_KEY), SMTP (SMTP_URL) or, with neither, the log.

Each transport is imported only when it is used, so a function that sends no mail never loads
`sendgrid` or `smtplib`. A transport that cannot deliver raises MailError; the caller decides
whether and when to try again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared import settings

log = logging.getLogger("ims.mail")


@dataclass(frozen=True, slots=True)
class Message:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str

    def __post_init__(self) -> None:
        # A subject is one header line: a newline from an item's name must not break (or forge) it.
        object.__setattr__(self, "subject", " ".join(self.subject.split()))


class MailError(Exception):
    """The message was not accepted; the text says why (never a credential)."""


def transport() -> str:
    s = settings.get()
    return "sendgrid" if s.sendgrid_api_key else "smtp" if s.smtp_url else "log"


def send(message: Message) -> None:
    if not message.to:
        raise MailError("no recipients: set ALERT_EMAIL_TO or make sure an active manager exists")
    kind = transport()
    if kind == "sendgrid":
        _sendgrid(message)
    elif kind == "smtp":
        _smtp(message)
    else:
        log.info("mail (no transport configured) to %s: %s\n%s", ", ".join(message.to), message.subject,
                 message.text)


def _sendgrid(message: Message) -> None:
    from email.utils import parseaddr

    import python_http_client.exceptions as http_errors
    import sendgrid
    from sendgrid.helpers.mail import Email, Mail

    s = settings.get()
    name, address = parseaddr(s.mail_from)
    mail = Mail(from_email=Email(address, name or None), to_emails=list(message.to), subject=message.subject,
                plain_text_content=message.text, html_content=message.html)
    client = sendgrid.SendGridAPIClient(api_key=s.sendgrid_api_key, host=s.sendgrid_host)
    try:
        response = client.client.mail.send.post(request_body=mail.get(), timeout=s.mail_timeout)
    except http_errors.HTTPError as exc:
        detail = exc.body.decode("utf-8", "replace")[:200] if isinstance(exc.body, bytes) else str(exc.body)[:200]
        raise MailError(f"SendGrid answered {exc.status_code}: {detail}") from None
    except OSError as exc:  # refused, unreachable, timed out (urllib's URLError is an OSError)
        raise MailError(f"SendGrid unreachable: {exc}") from None
    if response.status_code >= 300:
        raise MailError(f"SendGrid answered {response.status_code}")


def _smtp_target(url: str) -> tuple[str, int, bool, bool, str, str]:
    """(host, port, implicit TLS, STARTTLS, user, password) from SMTP_URL.

    With credentials and no `smtps://`, STARTTLS is on unless `?starttls=0` says otherwise: a
    password is not sent in the clear by default. Never echoes the URL: it holds the password.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    shape = "SMTP_URL must look like smtp://user:pass@host:587?starttls=1 or smtps://user:pass@host:465"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. an un-encoded "/", "#" or "?" in the password
        raise MailError(shape + " (percent-encode special characters in the password)") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise MailError(shape)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    tls = parts.scheme == "smtps"
    asked = parse_qs(parts.query).get("starttls", ["1" if user and not tls else "0"])[-1].lower()
    starttls = not tls and asked in ("1", "true", "yes", "on")
    return (parts.hostname, port or (465 if tls else 587 if starttls else 25), tls, starttls, user, password)


def _smtp(message: Message) -> None:
    import smtplib
    import ssl
    from email.message import EmailMessage

    s = settings.get()
    host, port, tls, starttls, user, password = _smtp_target(s.smtp_url)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = s.mail_from, ", ".join(message.to), message.subject
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    try:
        if tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=s.mail_timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=s.mail_timeout)
        with smtp:
            if starttls:
                smtp.starttls(context=ssl.create_default_context())
            if user:
                smtp.login(user, password)
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"SMTP {host}:{port}: {exc.__class__.__name__}: {exc}"[:300]) from None
