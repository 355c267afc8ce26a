import pytest

from pgext.errors import InvalidIdentifier
from pgext.identifiers import quote_ident, quote_literal, quote_qualified


def test_quote_ident_doubles_quotes() -> None:
    assert quote_ident('we"ird') == '"we""ird"'
    assert quote_ident("Mixed Case") == '"Mixed Case"'


def test_quote_qualified() -> None:
    assert quote_qualified("t", "s") == '"s"."t"'


@pytest.mark.parametrize("bad", ["", "a\x00b", "x" * 64, "é" * 32])
def test_bad_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        quote_ident(bad)


def test_quote_literal() -> None:
    assert quote_literal("it's") == "'it''s'"
