"""TLS and SASL for a Kafka that is shared: read from KAFKA_* variables, used by every client.

A broker reachable by others must not be plaintext: whoever reaches it can
rewrite `routing.rules` and `entities.kb`, or read every article. The worker
(through Faust's credentials, made in `streams.runtime`) and every command that talks to Kafka (through
aiokafka's options) take the same variables, so one environment secures all:

| variable | meaning |
|---|---|
| `KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` |
| `KAFKA_SASL_MECHANISM` | `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with SASL_*) |
| `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD` | the SASL account |
| `KAFKA_SSL_CAFILE` | CA bundle that signed the broker's certificate (default: the system's) |
| `KAFKA_SSL_CERTFILE`, `KAFKA_SSL_KEYFILE` | a client certificate, for brokers that require one |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .settings import KAFKA_SECURITY_VARIABLES, SettingsError, security_variables

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
VARIABLES = KAFKA_SECURITY_VARIABLES


class SecurityError(SettingsError):
    """A KAFKA_* security variable that cannot be used; the message names it."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "KafkaSecurity":
        """From the variables (`Settings.kafka_security`, or `security_variables()`)."""
        protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").strip().upper()
        if protocol not in PROTOCOLS:
            raise SecurityError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        found = cls(protocol, *(env.get(name) or None for name in VARIABLES[1:]))
        if protocol.startswith("SASL_"):
            mechanism = (found.mechanism or "PLAIN").strip().upper()
            if mechanism not in MECHANISMS:
                raise SecurityError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, got {mechanism!r}")
            if not (found.username and found.password):
                raise SecurityError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
            found = cls(protocol, mechanism, *(getattr(found, f) for f in
                                               ("username", "password", "cafile", "certfile", "keyfile")))
        for name, path in (("KAFKA_SSL_CAFILE", found.cafile), ("KAFKA_SSL_CERTFILE", found.certfile),
                           ("KAFKA_SSL_KEYFILE", found.keyfile)):
            if path and not Path(path).is_file():
                raise SecurityError(f"{name}: no such file: {path}")
        if bool(found.certfile) != bool(found.keyfile):
            raise SecurityError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        return found

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def ssl_context(self):
        if not self.uses_tls:
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile)

    def client_options(self) -> dict:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict = {"security_protocol": self.protocol}
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options


def client_options() -> dict:
    """aiokafka options from the environment of this process."""
    return KafkaSecurity.from_env(dict(security_variables())).client_options()
