"""DDL text that more than one extension room emits."""

from __future__ import annotations

from pgext.identifiers import quote_literal


def drop_primary_key_sql(relation: str) -> str:
    """Drop the primary key of ``relation`` (a quoted, possibly qualified
    name), whatever the key is called; nothing when it has none."""
    # A DO block takes no parameters: the relation goes in as a quoted
    # literal and the constraint name through format('%I').
    return (
        "DO $pgext$ DECLARE key_name text; BEGIN "
        "SELECT conname INTO key_name FROM pg_constraint "
        f"WHERE conrelid = {quote_literal(relation)}::regclass AND contype = 'p'; "
        "IF key_name IS NOT NULL THEN "
        "EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', "
        f"{quote_literal(relation)}, key_name); "
        "END IF; END $pgext$"
    )
