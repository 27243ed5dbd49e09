"""Phone numbers: everything is E.164 inside callpath; display format only at the edge."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "RU"


def to_e164(raw: str | int | None, region: str = DEFAULT_REGION) -> str | None:
    """Normalise a PBX or form number to E.164, or None when it is not a valid number.

    Mango sends Russian numbers as bare digits (`74951234567`), forms as typed
    (`8 (495) 123-45-67`). A leading 8 is the Russian trunk prefix; any other bare
    digit string is read as international.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return None
    if text.startswith("+"):
        candidate = "+" + digits
    elif len(digits) == 11 and digits.startswith("8") and region == "RU":
        candidate = "+7" + digits[1:]
    else:
        candidate = "+" + digits
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str) -> str:
    """`+74951234567` → `+7 (495) 123-45-67`; other countries in international format."""
    if e164.startswith("+7") and len(e164) == 12:
        n = e164[2:]
        return f"+7 ({n[0:3]}) {n[3:6]}-{n[6:8]}-{n[8:10]}"
    parsed = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
