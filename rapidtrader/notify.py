"""Send the daily report by email over SMTP (stdlib smtplib).

Settings: RT_SMTP_HOST, RT_SMTP_PORT (587 with STARTTLS, 25 without), RT_SMTP_USER, RT_SMTP_PASSWORD
(login only when a user is set), RT_SMTP_FROM, RT_SMTP_TO (comma-separated), RT_SMTP_STARTTLS
(1/0; default 1 on port 587, else 0), RT_SMTP_TIMEOUT_S (20).

The message is multipart/alternative (the Markdown summary as text, the HTML page as the rich part)
with the HTML page also attached, so the charts survive mail clients that strip inline images.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from rapidtrader.settings import get_settings


class NotifyError(RuntimeError):
    """Raised with a one-sentence explanation of how to fix the mail settings."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    recipients: list[str]
    starttls: bool
    timeout: float

    @classmethod
    def from_env(cls) -> SmtpSettings:
        """From the RT_SMTP_* settings; raises NotifyError naming what to set when mail is not configured."""
        s = get_settings()
        to = [x.strip() for x in (s.smtp_to or "").split(",") if x.strip()]
        if not s.smtp_host or not to:
            raise NotifyError(
                "email is not configured: set RT_SMTP_HOST and RT_SMTP_TO (and RT_SMTP_PORT/USER/PASSWORD/FROM "
                "as your mail server needs)"
            )
        return cls(
            host=s.smtp_host,
            port=s.smtp_port,
            user=s.smtp_user,
            password=s.smtp_password,
            sender=s.smtp_from or s.smtp_user or "rapidtrader@localhost",
            recipients=to,
            starttls=s.smtp_port == 587 if s.smtp_starttls is None else s.smtp_starttls,
            timeout=s.smtp_timeout_s,
        )


def build_message(subject: str, text: str, html: str, attachment_name: str, s: SmtpSettings) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = s.sender
    msg["To"] = ", ".join(s.recipients)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(html.encode("utf-8"), maintype="text", subtype="html", filename=attachment_name)
    return msg


def send_report(subject: str, text: str, html: str, attachment_name: str, settings: SmtpSettings | None = None) -> str:
    """Send; returns a one-line description of what was sent, raises NotifyError with the fix."""
    s = settings or SmtpSettings.from_env()
    msg = build_message(subject, text, html, attachment_name, s)
    try:
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"SMTP login refused by {s.host}: check RT_SMTP_USER and RT_SMTP_PASSWORD ({exc})") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise NotifyError(f"{s.host}:{s.port} does not offer STARTTLS: set RT_SMTP_STARTTLS=0 ({exc})") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(
            f"could not send mail through {s.host}:{s.port} ({type(exc).__name__}: {exc}); "
            "check RT_SMTP_HOST/RT_SMTP_PORT and that the server is reachable"
        ) from exc
    return f"sent '{subject}' to {', '.join(s.recipients)} via {s.host}:{s.port}"
