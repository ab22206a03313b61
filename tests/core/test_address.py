"""E-mail cells made ready for spec §1: wrapped forms unwrapped, shapeless text refused,
and §1 itself untouched (its vectors still hold through `screenable_email`)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanyard.core.address import screenable_email, unwrap_email
from lanyard.core.errors import InvalidIdentifier
from lanyard.core.identity import normalize_email
from tests.spec import load_vectors

EMAIL_VECTORS = [v for v in load_vectors()["normalize"] if v["kind"] == "email"]


@pytest.mark.parametrize("vector", EMAIL_VECTORS, ids=lambda v: repr(v["input"])[:40])
def test_spec_vectors_hold_through_the_cleaning(vector: dict[str, Any]) -> None:
    if "error" in vector:
        with pytest.raises(InvalidIdentifier):
            screenable_email(vector["input"])
    else:
        assert unwrap_email(vector["input"]) == vector["input"]
        assert screenable_email(vector["input"]) == vector["normalized"]


@pytest.mark.parametrize(
    "wrapped",
    [
        "<dana.quill@example.net>",
        " < dana.quill@example.net > ",
        "mailto:dana.quill@example.net",
        "MailTo: dana.quill@example.net",
        "<mailto:dana.quill@example.net>",
        "dana.quill@example.net,",
        "dana.quill@example.net;",
        '"dana.quill@example.net"',
        "'dana.quill@example.net'",
        "“dana.quill@example.net”",
        '"dana.quill@example.net",',
        '"dana.quill@example.net;"',
        "Dana Quill <dana.quill@example.net>",
        '"Quill, Dana" <dana.quill@example.net>',
        "dana.quill@example.net <dana.quill@example.net>",
        "'Dana.Quill@example.net' <dana.quill@example.net>;",
        "\u200b<dana.quill@example.net>\ufeff",
    ],
)
def test_unambiguous_wrappings_are_unwrapped(wrapped: str) -> None:
    assert screenable_email(wrapped) == "dana.quill@example.net"


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("other@example.org <dana.quill@example.net>", "exactly one '@'"),  # whose?
        ("<dana.quill@example.net>>", "no address has"),
        ("<<dana.quill@example.net>>", "no address has"),
        ("dana.quill@example.net,,", "no domain has"),
        ("dana.quill@example.net, kim@example.cz", "exactly one '@'"),
        ("mailto:dana.quill@example.net?subject=hi", "no domain has"),
        ("dana.quill@[192.0.2.1]", "no domain has"),
        ('"dana quill"@example.net', "white space"),
        ("(dana)quill@example.net", "no address has"),
        ("dana.quill@localhost", "no dot in its domain"),
        ("dana.quill@example.net)", "no domain has"),
        ("dana.quill@exam ple.net", "white space"),
        ("n/a", "exactly one '@'"),
    ],
)
def test_text_without_the_shape_of_an_address_is_refused(cell: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier, match=why) as info:
        screenable_email(cell)
    assert "dana" not in str(info.value)


def test_internationalised_addresses_keep_their_shape() -> None:
    assert screenable_email("Łucja@PRZYKŁAD.pl") == "łucja@przykład.pl"
    assert screenable_email("<lucja@xn--przykad-rjb.pl>") == "lucja@przykład.pl"
    assert screenable_email("山田@例え.jp") == "山田@例え.jp"
    assert screenable_email("o'brien+conf@example.ie") == "o'brien@example.ie"


def test_an_over_long_cell_is_refused_before_unwrapping() -> None:
    with pytest.raises(InvalidIdentifier, match="at most 512"):
        screenable_email("<" + "a" * 600 + "@example.org>")


_WRAPPING = set("<>\"'“”‘’«»„,;")
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


@given(value=text)
@settings(max_examples=500)
def test_text_without_wrapping_reaches_spec_normalisation_unchanged(value: str) -> None:
    """Only wrapping is cleaned: any other text is normalised exactly as spec §1 says,
    or refused; never turned into a different address."""
    if _WRAPPING & set(value) or "mailto:" in value.casefold():
        return
    assert unwrap_email(value) == value
    try:
        cleaned = screenable_email(value)
    except InvalidIdentifier:
        return
    assert cleaned == normalize_email(value)


@given(value=text)
@settings(max_examples=500)
def test_any_text_is_an_address_or_refused(value: str) -> None:
    try:
        address = screenable_email(value)
    except InvalidIdentifier:
        return
    assert address.count("@") == 1
    assert screenable_email(address) == address  # idempotent


@given(local=st.from_regex(r"[a-z0-9._%+-]{1,20}", fullmatch=True))
def test_a_plain_address_is_kept_whatever_wraps_it(local: str) -> None:
    try:
        plain = screenable_email(f"{local}@example.org")
    except InvalidIdentifier:
        return
    for form in ("<{}>", "mailto:{}", '"{}"', "{},", "{};", "Some One <{}>"):
        assert screenable_email(form.format(f"{local}@example.org")) == plain
