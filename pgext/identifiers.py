"""Quoting and validation of SQL identifiers.

Values always travel as bind parameters; identifiers cannot, so every name that
pgext writes into SQL passes through :func:`quote_ident` (or
:func:`quote_qualified`) after :func:`validate_identifier` has refused what
Postgres would silently truncate or reject.
"""

from __future__ import annotations

import re

from pgext.errors import InvalidIdentifier

# Postgres truncates identifiers at NAMEDATALEN - 1 bytes, which would make two
# different names collide silently, so longer names are refused.
MAX_IDENTIFIER_BYTES = 63

_SIMPLE_NAME = re.compile(r"^[a-z_][a-z0-9_$]*$")


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """Return ``name`` if Postgres can store it unchanged, else raise."""
    if not isinstance(name, str):
        raise InvalidIdentifier(f"{what} must be a str, got {type(name).__name__}")
    if not name:
        raise InvalidIdentifier(f"{what} must not be empty")
    if "\x00" in name:
        raise InvalidIdentifier(f"{what} {name!r} contains a NUL character")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidIdentifier(
            f"{what} {name!r} is {size} bytes long; Postgres keeps at most "
            f"{MAX_IDENTIFIER_BYTES}"
        )
    return name


def is_simple_identifier(name: str) -> bool:
    """True when ``name`` needs no quotes (lower case, letters, digits, _)."""
    return bool(_SIMPLE_NAME.match(name))


def quote_ident(name: str, *, what: str = "identifier") -> str:
    """Quote ``name`` for SQL, doubling embedded double quotes."""
    validate_identifier(name, what=what)
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str, schema: str | None = None) -> str:
    """Quote an optionally schema-qualified name: ``"schema"."name"``."""
    if schema is None:
        return quote_ident(name)
    return f"{quote_ident(schema, what='schema')}.{quote_ident(name)}"


def quote_literal(text: str) -> str:
    """Quote a string literal for the rare SQL places that take no parameter.

    DDL such as ``COMMENT ON`` or ``CREATE TRIGGER ... EXECUTE FUNCTION f('x')``
    cannot bind parameters; everything else must use bind parameters instead.
    """
    if "\x00" in text:
        raise InvalidIdentifier("a string literal must not contain NUL")
    return "'" + text.replace("'", "''") + "'"
