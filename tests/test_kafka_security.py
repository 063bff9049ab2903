"""TLS and SASL settings: read once from KAFKA_* variables, refused with a line naming the variable."""

from __future__ import annotations

import ssl

import faust
import pytest

from streams.kafka_security import KafkaSecurity, SecurityError
from streams.runtime.app import faust_credentials
from streams.settings import SettingsError

from .test_cli import cli


def test_plaintext_by_default_adds_nothing():
    security = KafkaSecurity.from_env({})
    assert security.client_options() == {} and faust_credentials(security) is None


def test_sasl_over_tls_reaches_aiokafka_and_faust_alike():
    env = {"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-512",
           "KAFKA_SASL_USERNAME": "newsroom", "KAFKA_SASL_PASSWORD": "s3cret"}
    security = KafkaSecurity.from_env(env)
    options = security.client_options()
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("newsroom", "s3cret")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    credentials = faust_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials) and credentials.username == "newsroom"
    assert str(credentials.protocol.value) == "SASL_SSL"


@pytest.mark.parametrize("env, named", [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_PASSWORD"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u",
      "KAFKA_SASL_PASSWORD": "p"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/such/ca.pem"}, "KAFKA_SSL_CAFILE"),
])
def test_unusable_settings_name_the_variable(env, named):
    with pytest.raises(SecurityError, match=named) as caught:
        KafkaSecurity.from_env(env)
    assert isinstance(caught.value, SettingsError)


def test_commands_refuse_unusable_security_settings_in_one_line():
    result = cli("consume", "articles.raw", env={"KAFKA_BROKER": "kafka://127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "TLS"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "KAFKA_SECURITY_PROTOCOL must be one of" in result.stderr.strip().splitlines()[-1]


@pytest.mark.broker
def test_tls_to_a_plaintext_broker_fails_with_a_reason(broker):
    result = cli("consume", "articles.raw", env={"KAFKA_BROKER": f"kafka://{broker}", "KAFKA_SECURITY_PROTOCOL": "SSL"},
                 timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot connect to Kafka at {broker}: " in result.stderr
