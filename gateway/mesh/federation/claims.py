"""Signed caller claims: how a gateway proves, to a gateway two links away, who its caller is.

The federation token shows only that a peer belongs to the mesh; any member could write any
origin and any caller into a call it passes on. So the origin gateway signs what the far
gateway acts on (its own id, its caller's token name, the call's message id, the gateway the
call is for, the agent, when, and the task a follow-up answers) with its Ed25519 key, and the
far gateway maps a caller through ``[federation] principals`` only when that signature checks
out against the origin's public key in its ``[federation] keys``. A gateway in between can pass
the claim on, not change it; a claim replayed elsewhere names another destination, and one
replayed to the same gateway repeats a message id that gateway refuses, or is older than
``CLAIM_TTL_SECONDS``.

A claim is ``<payload>.<signature>``, both base64url without padding; the payload is compact
JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from adapters.errors import quote

CLAIM_TTL_SECONDS: Final = 300
"""How far a claim's time may be from the verifier's clock, either way."""
KEY_FILE: Final = "federation.key"
"""The key's file in the data folder when ``[federation] key_file`` is not set."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(text: str) -> Ed25519PublicKey:
    """A public key as ``effmesh federation-key`` prints it (base64 of its 32 raw bytes).

    Raises:
        ValueError: not such a key.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("must be base64 (as `effmesh federation-key` prints it)") from None
    if len(raw) != 32:
        raise ValueError("must be an Ed25519 public key of 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a signature vouches for: the far gateway compares each field with the call."""

    origin: str
    principal: str
    message: str
    destination: str
    agent: str
    issued: int
    resume: str | None = None
    """The handle of the far task a follow-up answers (None: a call that starts one)."""


class Signer:
    """This gateway's key, made on first use in a file only the gateway's user can read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: Ed25519PrivateKey | None = None

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = self._load() or self._create()
        return self._key

    def _load(self) -> Ed25519PrivateKey | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"{self.path} does not hold an Ed25519 key")
        return key

    def _create(self) -> Ed25519PrivateKey:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: two processes racing to make the key keep the first one's.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            loaded = self._load()
            assert loaded is not None
            return loaded
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key

    def public_text(self) -> str:
        """The public key as other gateways' ``[federation] keys`` take it."""
        raw = (
            self.key()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        return base64.b64encode(raw).decode("ascii")

    def sign(self, claim: Claim) -> str:
        fields: dict[str, str | int] = {
            "o": claim.origin,
            "p": claim.principal,
            "m": claim.message,
            "d": claim.destination,
            "a": claim.agent,
            "t": claim.issued,
        }
        if claim.resume is not None:
            fields["r"] = claim.resume  # left out otherwise: the payload an older gateway signs
        payload = json.dumps(
            fields,
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        return f"{_b64(payload)}.{_b64(self.key().sign(payload))}"


def verify(
    text: str | None,
    expected: Claim,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    now: float | None = None,
) -> str | None:
    """None when ``text`` is ``expected`` signed by the key ``keys`` holds for its origin and
    issued within ``CLAIM_TTL_SECONDS`` of ``now``; else why not, in a sentence."""
    origin = quote(expected.origin)
    key = keys.get(expected.origin)
    if key is None:
        return f"no key is configured for gateway {origin}"
    if not text:
        return f"the call names a caller of gateway {origin} without that gateway's signature"
    try:
        payload_text, signature_text = text.split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        key.verify(signature, payload)
        fields = json.loads(payload)
        got = Claim(
            fields["o"],
            fields["p"],
            fields["m"],
            fields["d"],
            fields["a"],
            int(fields["t"]),
            fields.get("r"),
        )
    except (ValueError, KeyError, TypeError, AttributeError, InvalidSignature, binascii.Error):
        return f"the caller claim does not carry gateway {origin}'s signature"
    if (got.origin, got.principal, got.message, got.destination, got.agent, got.resume) != (
        expected.origin,
        expected.principal,
        expected.message,
        expected.destination,
        expected.agent,
        expected.resume,
    ):
        return f"gateway {origin}'s signature is for another call"
    clock = time.time() if now is None else now
    if abs(clock - got.issued) > CLAIM_TTL_SECONDS:
        return f"gateway {origin}'s signature is too old (or the clocks differ)"
    return None
