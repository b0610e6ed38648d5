"""A real SMTP server for tests: aiosmtpd on loopback in three modes, answering like QQ Mail where it matters.

Modes: "ssl" (implicit TLS, AUTH), "starttls" (STARTTLS before AUTH), "plain" (no TLS, no AUTH: an intranet
relay). Also a port that accepts connections but never greets, and a port where nothing listens.
"""

import asyncio
import datetime
import email
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
ACCOUNT = (
    "herald@qq.example",
    "abcdefghijklmnop",
)  # QQ-style: full address and a 16-letter authorization code

# Replies captured from smtp.qq.com (PROVIDERS.md).
QQ_535 = (
    "535 Login Fail. Please enter your authorization code to login. More information in "
    "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no=1001256"
)
QQ_535_LEGACY = "535 Error: 请使用授权码登录。详情请看: http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no=1001256"
QQ_530 = (
    "530 Login fail. A secure connection is requiered(such as ssl). More information at "
    "http://service.mail.qq.com/cgi-bin/help?id=28"
)
QQ_501 = "501 mail from address must be same as authorization user"
QQ_503 = "503 Error: need EHLO and AUTH first !"
QQ_550 = "550 Mailbox not found or access denied"


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate and its key, as PEM text and as files (ssl wants files for the key)."""

    pem: str
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_certificate(folder: Path, names: tuple[str, ...] = ("localhost", HOST)) -> Certificate:
    """A self-signed certificate valid for `names` (host names or IP addresses), written under `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    folder.mkdir(parents=True, exist_ok=True)
    stem = "-".join(names).replace(":", "_")
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_text(pem)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificate(pem, cert_path, key_path)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class Received:
    """One message as the server took it: envelope, login, and whether the session was encrypted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None
    encrypted: bool
    peer: tuple

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=policy.default)


def _encrypted(server) -> bool:
    return server.transport is not None and server.transport.get_extra_info("ssl_object") is not None


@dataclass
class QQLikeHandler:
    """aiosmtpd hooks that take mail like QQ Mail: login over TLS only, sender must be the account."""

    account: tuple[str, str] | None = ACCOUNT
    legacy_535: bool = False  # answer a bad login with the older GBK-encoded text
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> reply that refuses it
    stall_data: float = 0  # seconds to wait before answering DATA: a server that stops answering
    received: list[Received] = field(default_factory=list)

    async def handle_AUTH(self, server, session, envelope, args):
        if _encrypted(server):
            return MISSING  # go on with aiosmtpd's own AUTH exchange
        await server.push(QQ_530)
        server.transport.close()  # QQ hangs up after refusing a login in clear text
        return None

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if self.account is not None and (login, password) == self.account:
            return AuthResult(success=True, auth_data=login)
        if self.legacy_535:
            server.transport.write(QQ_535_LEGACY.encode("gbk") + b"\r\n")
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=QQ_535)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.account is not None:
            if not session.authenticated:
                return QQ_503
            if address.lower() != session.auth_data.lower():
                return QQ_501
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.rcpt_replies.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.stall_data:
            await asyncio.sleep(self.stall_data)
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content,
                login=session.auth_data if session.authenticated else None,
                encrypted=_encrypted(server),
                peer=session.peer,
            )
        )
        return f"250 OK: queued as {len(self.received)}"


@dataclass
class SmtpServer:
    """A running server: where it listens, what it takes, and what it received."""

    mode: str
    port: int
    handler: QQLikeHandler
    controller: Controller
    host: str = HOST

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def account(self) -> tuple[str, str] | None:
        return self.handler.account

    def stop(self) -> None:
        """Stop listening and drop every open session (idempotent)."""
        if self.controller._thread is not None:
            self.controller.stop()


def free_port() -> int:
    """A loopback port nobody listens on at this moment."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _controller_options(mode: str, handler: QQLikeHandler, certificate: Certificate | None) -> dict:
    if mode == "plain":
        return {}
    if certificate is None:
        raise ValueError(f"mode {mode!r} needs a certificate")
    # AUTH is advertised before TLS too, as QQ does; handle_AUTH answers it with QQ's 530.
    options = {"authenticator": handler.authenticate, "auth_require_tls": False}
    key = "ssl_context" if mode == "ssl" else "tls_context"
    return options | {key: certificate.server_context()}


@contextmanager
def smtp_server(
    mode: str,
    certificate: Certificate | None = None,
    handler: QQLikeHandler | None = None,
    port: int | None = None,
) -> Iterator[SmtpServer]:
    """Run a server in `mode` ("ssl", "starttls" or "plain") on a loopback port until the block ends.

    `port` brings a stopped server back where it was (a server that was down, then up).
    """
    if handler is None:
        handler = QQLikeHandler(account=None if mode == "plain" else ACCOUNT)
    options = _controller_options(mode, handler, certificate)
    controller = Controller(
        handler,
        hostname=HOST,
        port=port or free_port(),
        server_hostname="smtp.herald.test",
        ident="QQ-like",
        **options,
    )
    controller.start()
    server = SmtpServer(mode, controller.port, handler, controller)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose connections complete (the kernel's backlog accepts them) but never hear a greeting."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def dead_port() -> int:
    """A port where nothing listens: connecting is refused at once."""
    return free_port()
