"""Bearer tokens: issued by `registry token`, verified with the local key, a public key file or a JWKS URL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import OKPAlgorithm

from registry.access import Principal, Role
from registry.config import Settings, load_settings
from registry.errors import ConfigError, InvalidInput, Unauthenticated
from registry.tokens import Verifier, issue, signing_key

NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)


@pytest.fixture
def local(tmp_path: Path) -> Settings:
    return load_settings(registry_data_dir=tmp_path)


def verify(settings: Settings, token: str, now: datetime = NOW) -> Principal:
    return asyncio.run(Verifier(settings).verify(token, now=now))


def reason(settings: Settings, token: str, now: datetime = NOW) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verify(settings, token, now)
    assert token not in str(caught.value) or not token
    return caught.value.reason


def hs256(claims: dict[str, object], secret: bytes) -> str:
    """A token signed with HMAC (PyJWT refuses to make one with a PEM key: an attacker would not)."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = part(json.dumps(claims, default=str).encode())
    return f"{head}.{body}.{part(hmac.new(secret, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


def test_an_issued_token_gives_back_its_principal(local: Settings) -> None:
    token = issue(local, "officer:7", Role.COMMUNE_OFFICER, "03405", timedelta(hours=8), now=NOW)
    principal = verify(local, token)
    assert (principal.subject, principal.role, principal.unit) == ("officer:7", Role.COMMUNE_OFFICER, "03405")
    assert principal.expires_at == NOW + timedelta(hours=8)
    auditor = verify(local, issue(local, "auditor:1", Role.AUDITOR, None, timedelta(hours=1), now=NOW))
    assert auditor.unit is None and auditor.role is Role.AUDITOR
    assert (local.registry_data_dir / "token-signing.pem").stat().st_mode & 0o777 == 0o600


def test_expiry_issuer_audience_signature_and_algorithm_are_checked(local: Settings, tmp_path: Path) -> None:
    token = issue(local, "officer:7", Role.COMMUNE_OFFICER, "03405", timedelta(hours=1), now=NOW)
    assert reason(local, token, NOW + timedelta(hours=2)) == "expired"
    assert reason(load_settings(registry_data_dir=local.registry_data_dir, registry_jwt_audience="other"),
                  token) == "wrong_audience"  # fmt: skip
    assert reason(load_settings(registry_data_dir=local.registry_data_dir, registry_jwt_issuer="other"),
                  token) == "wrong_issuer"  # fmt: skip
    assert reason(load_settings(registry_data_dir=tmp_path / "elsewhere"), token) == "bad_signature"
    head, body, signature = token.split(".")
    assert reason(local, f"{head}.{body}.{signature[::-1]}") in ("bad_signature", "malformed")
    claims = jwt.decode(token, options={"verify_signature": False})
    public = signing_key(local).public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    assert reason(local, hs256(claims, public)) == "wrong_algorithm"  # the public key used as an HMAC secret
    assert reason(local, jwt.encode(claims, None, algorithm="none")) == "wrong_algorithm"
    missing = {k: v for k, v in claims.items() if k != "jti"}
    assert reason(local, jwt.encode(missing, signing_key(local), algorithm="EdDSA")) == "missing_claim"
    wrong = {**claims, "role": "commune_officer", "unit": "12"}
    assert reason(local, jwt.encode(wrong, signing_key(local), algorithm="EdDSA")) == "bad_claims"


@settings(max_examples=200, deadline=None)
@given(garbage=st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,40}"))
def test_anything_else_is_unauthenticated_and_never_echoed(
    garbage: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings_ = load_settings(registry_data_dir=tmp_path_factory.getbasetemp() / "garbage")
    with pytest.raises(Unauthenticated) as caught:
        verify(settings_, garbage)
    assert len(garbage) < 8 or garbage not in str(caught.value)


def test_issuing_checks_the_role_unit_and_lifetime(local: Settings) -> None:
    with pytest.raises(InvalidInput) as caught:
        issue(local, "officer:7", Role.COMMUNE_OFFICER, "12", timedelta(hours=1))
    assert caught.value.field == "unit"
    with pytest.raises(InvalidInput) as caught:
        issue(local, "officer:7", Role.AUDITOR, None, timedelta(days=31))
    assert caught.value.field == "lifetime"


def test_no_token_carries_the_operators_role_of_the_command_line(local: Settings) -> None:
    with pytest.raises(InvalidInput) as caught:
        issue(local, "operator:root", Role.OPERATOR, None, timedelta(hours=1))
    assert (caught.value.field, caught.value.reason) == ("role", "not_a_token_role")
    claims = jwt.decode(issue(local, "auditor:1", Role.AUDITOR, None, timedelta(hours=1), now=NOW),
                        options={"verify_signature": False})  # fmt: skip
    forged = jwt.encode({**claims, "role": "operator"}, signing_key(local), algorithm="EdDSA")
    assert reason(local, forged) == "bad_claims"


def test_a_public_key_file_verifies_tokens_of_its_private_key(local: Settings, tmp_path: Path) -> None:
    token = issue(local, "officer:7", Role.PROVINCE_OFFICER, "12", timedelta(hours=1), now=NOW)
    pem = tmp_path / "public.pem"
    public = signing_key(local).public_key()
    pem.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    elsewhere = load_settings(registry_data_dir=tmp_path / "api", registry_jwt_public_key_file=pem)
    assert verify(elsewhere, token).unit == "12"
    assert not (tmp_path / "api" / "token-signing.pem").exists()  # no local key is made where a key is configured
    pem.write_text("not a key")
    with pytest.raises(ConfigError):
        Verifier(elsewhere)


@pytest.fixture
def jwks() -> Iterator[tuple[str, Ed25519PrivateKey]]:
    key = Ed25519PrivateKey.generate()
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "alg": "EdDSA", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


def test_a_jwks_url_verifies_tokens_by_key_id(jwks: tuple[str, Ed25519PrivateKey], tmp_path: Path) -> None:
    url, key = jwks
    config = load_settings(registry_data_dir=tmp_path, registry_jwks_url=url)
    claims = {"sub": "officer:9", "role": "district_officer", "unit": "106", "iss": config.registry_jwt_issuer,
              "aud": config.registry_jwt_audience, "iat": NOW, "exp": NOW + timedelta(hours=1), "jti": "j"}  # fmt: skip
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})
    assert verify(config, token).unit == "106"
    other = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "k2"})
    assert reason(config, other) == "unknown_key"


def test_the_token_command(tmp_path: Path) -> None:
    env = {"REGISTRY_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "registry.cli", "token", "--role", "commune_officer", "--unit", "03405"]
    made = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    principal = verify(load_settings(registry_data_dir=tmp_path), made.stdout.strip(), datetime.now(UTC))
    assert (principal.role, principal.unit) == (Role.COMMUNE_OFFICER, "03405")
    wrong = subprocess.run([*run[:-1], "12"], env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "unit" in wrong.stderr and not wrong.stdout
