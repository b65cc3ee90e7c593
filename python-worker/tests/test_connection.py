"""NATS connection settings: NOTEBRIDGE_* variables, files that must exist, TLS, redaction."""

import ssl
from pathlib import Path

import certifi
import pytest

from notebridge_worker import ConnectError, NatsOptions
from notebridge_worker.connection import _redacted


def test_every_setting_comes_from_its_variable() -> None:
    options = NatsOptions.from_env(
        {
            "NOTEBRIDGE_NATS_URL": "nats://a:4222,nats://b:4222",
            "NOTEBRIDGE_NATS_USER": "alice",
            "NOTEBRIDGE_NATS_PASSWORD": "s3cret",
            "NOTEBRIDGE_NATS_TOKEN": "",
        }
    )
    assert options == NatsOptions(
        url="nats://a:4222,nats://b:4222", user="alice", password="s3cret"
    )
    assert options.connect_kwargs() == {"user": "alice", "password": "s3cret"}
    assert NatsOptions.from_env({}).url == "nats://127.0.0.1:4222"


def test_files_named_must_exist(tmp_path: Path) -> None:
    with pytest.raises(
        ConnectError, match="NOTEBRIDGE_NATS_NKEY_SEED / --nats-nkey-seed: no such file"
    ):
        NatsOptions(nkey_seed=str(tmp_path / "missing.nk")).connect_kwargs()
    (tmp_path / "cert.pem").write_text("")
    with pytest.raises(ConnectError, match="needs both --nats-tls-cert and its key"):
        NatsOptions(tls_cert=str(tmp_path / "cert.pem")).connect_kwargs()


def test_tls_files_that_are_not_certificates_are_refused(tmp_path: Path) -> None:
    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("not a certificate")
    with pytest.raises(ConnectError, match="TLS files cannot be used"):
        NatsOptions(tls_ca=str(not_a_ca)).connect_kwargs()


def test_a_ca_file_verifies_the_server() -> None:
    context = NatsOptions(tls_ca=certifi.where()).connect_kwargs()["tls"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0


def test_urls_are_shown_without_their_secrets() -> None:
    assert _redacted("nats://alice:s3cret@h:4222, tls://tok@g:4222") == (
        "nats://***@h:4222,tls://***@g:4222"
    )
