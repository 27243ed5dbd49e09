import hashlib

from realtime.mango.signing import is_valid, sign


def test_signature_is_sha256_of_key_json_salt_as_mango_documents():
    body = '{"entry_id":"e1"}'
    assert sign("k", body, "s") == hashlib.sha256(b'k{"entry_id":"e1"}s').hexdigest()


def test_signature_over_a_reformatted_json_does_not_verify():
    body = '{"entry_id":"e1"}'
    assert not is_valid("k", '{"entry_id": "e1"}', "s", sign("k", body, "s"))


def test_uppercase_hex_signature_is_accepted():
    body = "{}"
    assert is_valid("k", body, "s", sign("k", body, "s").upper())
