"""System-wide settings, one row each."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.crypto import EncryptedText
from webapp.extensions import db
from webapp.models._types import NEVER_REUSED, UTCDateTime, utcnow

SECURITY_MODES = ("none", "ssl", "starttls")


class MailSettings(db.Model):
    """How Herald reaches the organisation's SMTP server (System settings → Mail settings)."""

    __tablename__ = "mail_settings"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(default=465)
    security: Mapped[str] = mapped_column(String(10), default="ssl")
    username: Mapped[str] = mapped_column(String(254), default="")
    password: Mapped[str] = mapped_column(EncryptedText, default="")
    sender_address: Mapped[str] = mapped_column(String(254), default="")
    sender_name: Mapped[str] = mapped_column(String(100), default="Herald")
    timeout: Mapped[int] = mapped_column(default=10)
    verify_tls: Mapped[bool] = mapped_column(default=True)
    # PEM text of a private CA to trust, for an intranet server with its own certificates.
    ca_bundle: Mapped[str] = mapped_column(Text, default="")
    # The language of the default message templates.
    language: Mapped[str] = mapped_column(String(8), default="zh")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender_address)


class NetworkSettings(db.Model):
    """System settings → Network: the outbound proxy for robot and webhook traffic (empty: from the env),
    and the loopback, link-local or metadata addresses Herald may reach all the same."""

    __tablename__ = "network_settings"
    __table_args__ = NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    proxy_url: Mapped[str] = mapped_column(String(500), default="")  # http://proxy.intra:3128 or https://...
    proxy_username: Mapped[str] = mapped_column(String(200), default="")
    proxy_password: Mapped[str] = mapped_column(EncryptedText, default="")
    no_proxy: Mapped[str] = mapped_column(String(1000), default="")  # comma-separated hosts and domains
    # Comma-separated IP addresses, networks, host names and .domains the outbound guard lets through.
    outbound_allow: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
