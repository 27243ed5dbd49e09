"""Mango VPBX request signing: sha256_hex(vpbx_api_key + json + vpbx_api_salt)."""

from __future__ import annotations

import hashlib
import hmac


def sign(api_key: str, json_text: str, salt: str) -> str:
    return hashlib.sha256((api_key + json_text + salt).encode("utf-8")).hexdigest()


def is_valid(api_key: str, json_text: str, salt: str, signature: str) -> bool:
    # Constant-time compare: the signature is the only thing standing between a forger and us.
    return hmac.compare_digest(sign(api_key, json_text, salt), signature.strip().lower())
