import pytest

from realtime.phones import display, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("74951234567", "+74951234567"),  # Mango: bare digits
        (74951234567, "+74951234567"),  # Mango clients that send integers
        ("8 (495) 123-45-67", "+74951234567"),  # a form, with the trunk prefix
        ("+7 916 123-45-67", "+79161234567"),
        ("12345", None),
        ("", None),
        (None, None),
        ("not a phone", None),
    ],
)
def test_numbers_from_pbx_and_forms_normalise_to_e164(raw, expected):
    assert to_e164(raw) == expected


def test_russian_numbers_display_with_city_code_in_brackets():
    assert display("+74951234567") == "+7 (495) 123-45-67"


def test_foreign_numbers_display_in_international_format():
    assert display("+442079460000") == "+44 20 7946 0000"
