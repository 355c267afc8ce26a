"""Channels: a validated name plus the pydantic model of its payloads.

Case rules: pgext passes names to ``pg_notify`` as a bind parameter and quotes
them in ``LISTEN``, so a name is used exactly as written and is case
sensitive (``Orders`` and ``orders`` are two channels).  SQL written by hand
that says ``LISTEN Orders`` (unquoted) folds to ``orders``; to interoperate
with such code, use lower-case names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    Field,
    Json,
    StrictFloat,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticSerializationError, SchemaSerializer
from typing_extensions import TypedDict

from pgext.identifiers import MAX_IDENTIFIER_BYTES
from pgext.pubsub.errors import InvalidChannel, InvalidPayload

T = TypeVar("T", bound=BaseModel)

# ASCII only so that a name's length in characters is its length in bytes,
# and no character needs explaining in logs or URLs (the browser bridge puts
# channel names into paths).
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]*$")

# Names pgext uses itself (heartbeats, outbox wake-ups).
RESERVED_PREFIX = "pgext_"


def validate_channel_name(name: str, *, internal: bool = False) -> str:
    """Return ``name`` if it is a usable channel name, else raise
    :class:`InvalidChannel` saying why."""
    if not isinstance(name, str):
        raise InvalidChannel(f"channel name must be a str, got {type(name).__name__}")
    if not name:
        raise InvalidChannel("channel name must not be empty")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise InvalidChannel(
            f"channel name {name!r} is {size} bytes; Postgres keeps at most "
            f"{MAX_IDENTIFIER_BYTES} and would silently truncate it"
        )
    if not _NAME.match(name):
        raise InvalidChannel(
            f"channel name {name!r} may only contain ASCII letters, digits and "
            "'_', '.', ':', '-', and must start with a letter or '_'"
        )
    if not internal and name.startswith(RESERVED_PREFIX):
        raise InvalidChannel(
            f"channel name {name!r} uses the prefix {RESERVED_PREFIX!r}, "
            "reserved for pgext's own channels"
        )
    return name


@dataclass(frozen=True, eq=False)
class Channel(Generic[T]):
    """A named channel carrying payloads of type ``model``.

    ``durable=True`` routes messages through the outbox table: written in the
    publisher's transaction, numbered in commit order, replayable from an id,
    delivered at least once.  Plain channels use NOTIFY alone: at most once.
    """

    name: str
    model: type[T]
    durable: bool = False
    _adapter: TypeAdapter[T] = field(init=False, repr=False)
    _serializer: SchemaSerializer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        validate_channel_name(self.name)
        if not (isinstance(self.model, type) and issubclass(self.model, BaseModel)):
            raise InvalidChannel(
                f"channel {self.name!r}: model must be a pydantic BaseModel class"
            )
        object.__setattr__(self, "_adapter", TypeAdapter(self.model))
        object.__setattr__(self, "_serializer", self.model.__pydantic_serializer__)

    # The batch validators are built on first use (a TypeAdapter costs
    # milliseconds, and most channels never need some of them);
    # cached_property stores them beside the frozen fields.

    @cached_property
    def _list(self) -> TypeAdapter[list[Any]]:
        return TypeAdapter(list[self.model])  # type: ignore[name-defined]

    @cached_property
    def _texts(self) -> TypeAdapter[list[Any]]:
        return TypeAdapter(list[Json[self.model]])  # type: ignore[name-defined]

    @cached_property
    def _notes(self) -> TypeAdapter[list[Any]]:
        return _batch_adapter(self.model)

    def validate(self, payload: T | dict[str, Any]) -> T:
        """The payload as a model instance, or :class:`InvalidPayload`."""
        try:
            if isinstance(payload, self.model):
                # Re-validate: a model built with model_construct or mutated
                # after creation may no longer satisfy its own schema.
                return self._adapter.validate_python(payload.model_dump(warnings=False))
            return self._adapter.validate_python(payload)
        except ValidationError as error:
            raise InvalidPayload(
                f"payload for channel {self.name!r} does not match "
                f"{self.model.__name__}: {error}"
            ) from error

    def encode(self, payload: T | dict[str, Any]) -> str:
        """Validate and serialise to JSON text."""
        if type(payload) is self.model:
            # Built through the model, so validated at construction; a field
            # assigned a wrong value since then fails the strict serialiser.
            # The model's own serialiser, called directly: model_dump_json
            # adds a Python frame and argument handling per publish.
            return self._dump(payload)
        return self._dump(self.validate(payload))

    def encode_many(self, payloads: Iterable[T | dict[str, Any]]) -> list[str]:
        """:meth:`encode` for a batch: what needs validating is validated in
        ONE pydantic call (a list), not one call per payload."""
        items = list(payloads)
        loose = [i for i, p in enumerate(items) if type(p) is not self.model]
        if loose:
            try:
                valid = self._list.validate_python(
                    [_revalidatable(items[i], self.model) for i in loose]
                )
            except ValidationError as error:
                raise InvalidPayload(
                    f"payload for channel {self.name!r} does not match "
                    f"{self.model.__name__}: {error}"
                ) from error
            for i, value in zip(loose, valid, strict=True):
                items[i] = value
        return [self._dump(item) for item in items]

    def _dump(self, payload: Any) -> str:
        try:
            data: bytes = self._serializer.to_json(payload, warnings="error")
        except PydanticSerializationError as error:
            raise InvalidPayload(
                f"payload for channel {self.name!r} cannot be serialised to "
                f"JSON: {error}"
            ) from error
        return data.decode()

    def decode(self, data: Any) -> T:
        """Validate received data (raises pydantic's ValidationError)."""
        return self._adapter.validate_python(data)

    def decode_json(self, text: str) -> T:
        """Validate received JSON text (raises pydantic's ValidationError)."""
        return self._adapter.validate_json(text)

    def decode_json_many(self, texts: list[str]) -> list[T]:
        """Validate many JSON texts in one pydantic call (raises pydantic's
        ValidationError if any fails).  Each text is parsed on its own, as
        with :meth:`decode_notes`, never spliced into one array."""
        return self._texts.validate_python(texts)

    def decode_notes(self, notes: list[str]) -> list[Any]:
        """Validate many notification texts in one pydantic call.

        Each element of the result is either a dict ``{"ts": float, "d":
        model}`` for a pgext envelope whose payload validated, or the note
        itself (a ``str``) when it is anything else: another writer's JSON,
        a spill reference, malformed or invalid text.  The caller takes
        those the slow way, one by one, so its error reporting is unchanged.

        Each note is parsed on its own (a list of ``Json`` strings, never
        the notes spliced into one JSON array), so no note's text can
        change where another begins or ends.
        """
        return self._notes.validate_python(notes)


def _revalidatable(payload: Any, model: type[BaseModel]) -> Any:
    """What the list validator must check: a model instance (a subclass, or
    one built with model_construct or mutated) as its data, since pydantic
    passes instances through unchecked."""
    if isinstance(payload, model):
        return payload.model_dump(warnings=False)
    return payload


def _batch_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    # Functional form: the payload model is only known at run time.
    envelope = TypedDict(  # type: ignore[name-match]  # noqa: UP013
        "PgextEnvelope",
        {"pgext": Literal[1], "ts": StrictFloat, "d": model},  # type: ignore[valid-type]
    )
    # left_to_right: try the envelope first; a str input always also
    # matches ``str``, which hands the note back untouched.
    item = Annotated[
        Json[envelope] | str,
        Field(union_mode="left_to_right"),
    ]
    return TypeAdapter(list[item])
