"""shared.mail on its own: SMTP_URL forms, SMTP login against a real server, and the promise that
the stock functions never load a mail transport."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared import mail
from tests.conftest import ROOT
from tests.notify.conftest import Inbox, free_port


@pytest.mark.parametrize("url, target", [
    ("smtp://mail.example.com", ("mail.example.com", 25, False, False, "", "")),
    ("smtp://u:p@mail.example.com:587?starttls=1", ("mail.example.com", 587, False, True, "u", "p")),
    ("smtp://mail.example.com?starttls=true", ("mail.example.com", 587, False, True, "", "")),
    ("smtps://apikey:s%40cret%2F1@smtp.example.com", ("smtp.example.com", 465, True, False, "apikey", "s@cret/1")),
    # credentials turn STARTTLS on by default; only an explicit starttls=0 sends them in the clear
    ("smtp://u:p@mail.example.com", ("mail.example.com", 587, False, True, "u", "p")),
    ("smtp://u:p@mail.example.com:2525?starttls=0", ("mail.example.com", 2525, False, False, "u", "p")),
])
def test_smtp_url_forms(url, target):
    assert mail._smtp_target(url) == target


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com:25",
                                 "smtp://apikey:s3cr#et@smtp.example.com:587"])
def test_a_malformed_smtp_url_is_a_mail_error_that_never_echoes_the_password(url):
    with pytest.raises(mail.MailError, match="SMTP_URL must look like") as refused:
        mail._smtp_target(url)
    assert "s3cr" not in str(refused.value)


def test_a_newline_in_a_subject_cannot_add_a_header():
    message = mail.Message(("a@ims.test",), "Low stock: Tape\r\nBcc: thief@evil.test", "t", "h")
    assert message.subject == "Low stock: Tape Bcc: thief@evil.test"


def test_smtp_login_with_credentials_from_the_url(mail_env):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
        logins.append((data.login, data.password))
        return AuthResult(success=True)

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    try:
        mail_env(SMTP_URL=f"smtp://ims:p%40ss%20word@127.0.0.1:{port}?starttls=0")  # a test server, no TLS
        mail.send(mail.Message(("a@ims.test",), "hello", "text", "<p>html</p>"))
        assert logins == [(b"ims", b"p@ss word")] and inbox.messages[0]["Subject"] == "hello"
    finally:
        controller.stop()


def test_no_transport_logs_the_mail(mail_env, caplog):
    mail_env()
    with caplog.at_level("INFO", logger="ims.mail"):
        mail.send(mail.Message(("a@ims.test",), "Low stock: Tape", "Tape is low.", "<p>Tape is low.</p>"))
    assert mail.transport() == "log" and "Low stock: Tape" in caplog.text and "Tape is low." in caplog.text


def test_no_recipients_is_a_mail_error(mail_env):
    with pytest.raises(mail.MailError, match="no recipients"):
        mail.send(mail.Message((), "s", "t", "h"))


def test_stock_functions_never_import_a_mail_transport():
    probe = ("import sys; from gateway import manifest; "
             "fns = [f for f in manifest.load() if f.package != 'notify']; "
             "[manifest.load_main(f) for f in fns]; "
             "print(sorted(m for m in ('sendgrid', 'smtplib', 'shared.mail', 'shared.services.notify') "
             "if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
