"""A real SMTP server on a free loopback port (``aiosmtpd``), collecting the messages it receives, for the
email alert tests. It offers no STARTTLS (no TLS context), and AUTH without TLS when given credentials to
accept, so a client's login is exercised over a plain connection."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from benchmarks.local_server import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    credentials: tuple[str, str] | None = None  # (login, password) it accepts; None: no AUTH offered
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 (aiosmtpd)
        message = message_from_bytes(envelope.original_content, policy=policy.default)  # type: ignore[attr-defined]
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[attr-defined]
        return "250 OK"

    def authenticate(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            login, password = data.login.decode(), data.password.decode()
            if (login, password) == self.credentials:
                self.logins.append(login)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        auth = {"authenticator": self.authenticate, "auth_require_tls": False} if self.credentials else {}
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port(), **auth)
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        assert self.controller is not None
        return self.controller.port

    def take(self) -> list[Received]:
        with self.lock:
            received, self.received = self.received, []
        return received

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
