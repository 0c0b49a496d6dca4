"""A faster parser for bulk consumers: msgspec mirrors of the registry's pydantic models.

``parse_event`` (pydantic) is the contract: it decides what is valid and explains what is not. A
consumer that reads hundreds of thousands of events a second (ingestion) spends most of its time
there, so ``FastParser`` first tries a msgspec decoder generated from the same envelope classes:

- it accepts only what ``parse_event`` accepts, with the same values (msgspec is the stricter of
  the two: no string-to-number coercion, RFC 3339 times only, ...); ``tests/contracts`` checks
  this on generated valid events and on many kinds of broken ones;
- whatever it refuses goes to ``parse_event``, which accepts it (the lax forms) or raises the
  contract's error; so the result and the errors are ``parse_event``'s;
- a type whose models use something the generator does not mirror exactly (custom validators,
  transforming constraints, times inside ``data``, several versions of one type, ...) is not
  mirrored at all: its events always go to ``parse_event``.

A fast event is a msgspec ``Struct`` with the attributes of the envelope (``id``, ``type``,
``version``, ``source``, ``time``, ``tenant_id``, ``actor_id``, ``session_id``, ``subject.type``,
``subject.id``, ``data.<field>``). Two differences with the pydantic envelope: ``time`` keeps the
offset it was sent with (the same instant; pydantic converts it to UTC), and an IP address field
is its text. ``data_json`` serialises the ``data`` of either kind identically.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import sys
import types
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Final, Literal, Union, get_args, get_origin

import annotated_types
import msgspec
from pydantic import BaseModel, IPvAnyAddress
from pydantic.fields import FieldInfo
from pydantic.types import AllowInfNan, StringConstraints

from lookout_contracts.registry import REGISTRY, EventRegistry, EventSpec

_FLOAT_MAX: Final = sys.float_info.max
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_BOUNDS: Final[dict[type, str]] = {
    annotated_types.Ge: "ge",
    annotated_types.Le: "le",
    annotated_types.Gt: "gt",
    annotated_types.Lt: "lt",
}
"""An annotated-types bound → its msgspec.Meta keyword (the same name as its attribute)."""


class Unmirrored(Exception):
    """A model uses something the generator does not reproduce exactly: not mirrored."""


class FastParser:
    """``parse(raw)``: the event, by msgspec when it can, by ``parse_event`` otherwise."""

    def __init__(self, registry: EventRegistry = REGISTRY) -> None:
        self._registry = registry
        self.mirrored: dict[str, type[msgspec.Struct]] = {}
        """The event types msgspec decodes, by type (every other type goes to ``parse_event``)."""
        versions: dict[str, list[EventSpec]] = {}
        for spec in registry.all_event_specs():
            versions.setdefault(spec.type, []).append(spec)
        for event_type, specs in versions.items():
            if len(specs) != 1:
                continue  # the version picks the data model: a tagged union cannot say that
            try:
                self.mirrored[event_type] = _envelope_struct(specs[0])
            except Unmirrored:
                continue
        self.decode_or_raise: Callable[[bytes], Any] = (
            msgspec.json.Decoder(Union[tuple(self.mirrored.values())]).decode  # noqa: UP007
            if self.mirrored
            else _nothing_mirrored
        )
        """msgspec's decode: the fast struct, or one of ``REFUSED`` (for a hot loop's own try)."""

    def parse(self, raw: bytes) -> Any:
        """The event in ``raw``: a fast struct or a pydantic envelope. Raises what ``parse_event``
        raises (``ContractError``) for an event that is not valid."""
        event = self.decode(raw)
        if event is None:  # maybe valid in a form only pydantic accepts: it decides, and explains
            return self._registry.parse_event(raw)
        return event

    def decode(self, raw: bytes) -> msgspec.Struct | None:
        """The fast struct of ``raw``, or ``None`` when msgspec does not accept it."""
        try:
            event: msgspec.Struct = self.decode_or_raise(raw)
        except REFUSED:
            return None
        return event


REFUSED: Final = (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError)
"""What ``FastParser.decode_or_raise`` raises for bytes it does not accept (``None`` included)."""


def _nothing_mirrored(raw: bytes) -> Any:
    raise msgspec.DecodeError("no event type is mirrored")


def data_json(event: Any) -> str:
    """The event's ``data`` as compact JSON, the same text for a fast and a pydantic event."""
    data = event.data
    if isinstance(data, BaseModel):
        return data.model_dump_json()
    model = _SERIALISED_BY_PYDANTIC.get(type(data))
    if model is not None:  # floats: the two libraries write exponents differently
        return model.model_validate(msgspec.to_builtins(data)).model_dump_json()
    return msgspec.json.encode(data).decode()


_SERIALISED_BY_PYDANTIC: dict[type[msgspec.Struct], type[BaseModel]] = {}


def is_fast(event: Any) -> bool:
    return isinstance(event, msgspec.Struct)


# The generator ----------------------------------------------------------------------------------


def _envelope_struct(spec: EventSpec) -> type[msgspec.Struct]:
    model = spec.envelope_model
    decorators = model.__pydantic_decorators__
    if decorators.model_validators or decorators.validators or decorators.root_validators:
        raise Unmirrored(f"{model.__name__} has model validators")
    validated = {field for d in decorators.field_validators.values() for field in d.info.fields}
    if validated - {"time"}:
        raise Unmirrored(f"{model.__name__} validates {sorted(validated)}")
    namespace: dict[str, Any] = {"__annotations__": {"type": ClassVar[str]}, "type": spec.type}
    for name, info in model.model_fields.items():
        if name == "type":
            continue  # the tag
        if name == "time":
            # The envelope's one field validator (aware, then converted to UTC). Read as text, then
            # by datetime.fromisoformat: msgspec's own datetime rounds a 7th+ fractional digit
            # where pydantic truncates (.9999995 would even move to the next second), so such
            # times, and anything not plain RFC 3339 with an offset, are pydantic's. The length
            # bounds are checked by msgspec in C; the shape by ``_read_time``.
            annotation: Any = Annotated[str, msgspec.Meta(min_length=20, max_length=32)]
        else:
            annotation = _field_type(info)
        _add_field(namespace, name, annotation, info)
    namespace["__post_init__"] = _read_time
    return _struct(f"Fast{model.__name__}", namespace, tag=spec.type, tag_field="type")


def _read_time(event: Any) -> None:
    """``time`` as ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)``, read by ``datetime.fromisoformat``.

    A handful of character checks instead of a regular expression (which cost more than the rest
    of the envelope): the separators are where that shape has them and the fraction has at most 6
    digits; ``fromisoformat`` checks the digits, the ranges and the offset. A ValueError (either
    way) is reported by msgspec as a ValidationError: the event goes to pydantic."""
    text = event.time
    if text[4:17:3] != "--T::":  # the separators at 4, 7, 10, 13 and 16
        raise ValueError("time: not YYYY-MM-DDTHH:MM:SS")
    if text[-1] == "Z":
        clock = len(text) - 1
    elif text[-3] == ":" and text[-6] in "+-":
        clock = len(text) - 6
    else:
        raise ValueError("time: no Z or ±HH:MM offset")
    if clock != 19 and (text[19] != "." or not 21 <= clock <= 26):
        raise ValueError("time: a fraction of 1 to 6 digits only")
    if text[:4] in ("0001", "9999"):
        raise ValueError("time: the first and last years may leave UTC's range")
    msgspec.structs.force_setattr(event, "time", datetime.fromisoformat(text))


def _model_struct(model: type[BaseModel]) -> type[msgspec.Struct]:
    decorators = model.__pydantic_decorators__
    if (
        decorators.model_validators
        or decorators.field_validators
        or decorators.validators
        or decorators.root_validators
    ):
        raise Unmirrored(f"{model.__name__} has validators")
    if model.model_config.get("extra") != "forbid":
        raise Unmirrored(f"{model.__name__} does not forbid unknown fields")
    namespace: dict[str, Any] = {"__annotations__": {}}
    checks: list[tuple[str, Callable[[Any], object]]] = []
    for name, info in model.model_fields.items():
        if info.alias not in (None, name) or info.validation_alias not in (None, name):
            raise Unmirrored(f"{model.__name__}.{name} has an alias")
        field_checks: list[Callable[[Any], object]] = []
        annotation = _mirror(info.annotation, list(info.metadata), field_checks)
        checks += [(name, check) for check in field_checks]
        _add_field(namespace, name, annotation, info)
    if checks:

        def __post_init__(self: Any) -> None:
            # What msgspec cannot say in a type; a ValueError here is a ValidationError.
            for name, check in checks:
                value = getattr(self, name)
                if value is not None:
                    check(value)

        namespace["__post_init__"] = __post_init__
    struct = _struct(f"Fast{model.__name__}", namespace)
    if any(_has_float(info.annotation) for info in model.model_fields.values()):
        _SERIALISED_BY_PYDANTIC[struct] = model
    return struct


def _has_float(annotation: Any) -> bool:
    return annotation is float or any(_has_float(argument) for argument in get_args(annotation))


def _struct(name: str, namespace: dict[str, Any], **config: Any) -> type[msgspec.Struct]:
    return types.new_class(
        name,
        (msgspec.Struct,),
        # gc=False: events hold no reference cycles; untracked structs are cheaper to make and free
        {"forbid_unknown_fields": True, "frozen": True, "kw_only": True, "gc": False, **config},
        lambda ns: ns.update(namespace),
    )


def _add_field(namespace: dict[str, Any], name: str, annotation: Any, info: FieldInfo) -> None:
    namespace["__annotations__"][name] = annotation
    if info.is_required():
        return
    if info.default_factory is not None:
        namespace[name] = msgspec.field(default_factory=info.default_factory)  # type: ignore[arg-type]
    elif info.default is None or isinstance(info.default, str | int | float | bool | tuple):
        namespace[name] = info.default
    else:
        raise Unmirrored(f"{name}: default {info.default!r}")


def _field_type(info: FieldInfo) -> Any:
    return _mirror(info.annotation, list(info.metadata), None)


def _mirror(
    annotation: Any, metadata: list[Any], checks: list[Callable[[Any], object]] | None
) -> Any:
    """The msgspec type for a pydantic annotation with its constraints, or ``Unmirrored``.

    ``checks``: where a model field's value checks go that msgspec types cannot express (run by
    the struct's ``__post_init__``); ``None`` inside containers, where none can run."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        flat = []
        for item in extra:  # Annotated[int, Field(ge=0)]: the Field's constraints
            if isinstance(item, FieldInfo):
                if item.alias or not item.is_required():
                    raise Unmirrored(f"{item!r} inside {annotation!r}")
                flat += item.metadata
            else:
                flat.append(item)
        return _mirror(inner, [*flat, *metadata], checks)
    if annotation is IPvAnyAddress:
        _refuse_constraints(annotation, metadata)
        _need(checks, annotation).append(ipaddress.ip_address)  # what pydantic's check calls
        return str
    if origin in (Union, types.UnionType):
        arguments = get_args(annotation)
        if type(None) not in arguments or len(arguments) != 2:
            raise Unmirrored(f"union {annotation!r}")
        other = next(argument for argument in arguments if argument is not type(None))
        # pydantic applies the constraints to the non-null branch
        return _mirror(other, metadata, checks) | None
    if origin is Literal:
        values = get_args(annotation)
        if not all(type(value) in (str, int) for value in values):
            raise Unmirrored(f"literal {annotation!r}")
        _refuse_constraints(annotation, metadata)
        return annotation
    if origin is tuple:
        arguments = get_args(annotation)
        if len(arguments) != 2 or arguments[1] is not Ellipsis:
            raise Unmirrored(f"tuple {annotation!r}")
        item = _mirror(arguments[0], [], None)
        return _constrained(tuple[item, ...], metadata, lengths=True)  # type: ignore[valid-type]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        _refuse_constraints(annotation, metadata)
        return _model_struct(annotation)
    if annotation is uuid.UUID:
        _refuse_constraints(annotation, metadata)
        return uuid.UUID
    if annotation is bool:
        _refuse_constraints(annotation, metadata)
        return bool
    if annotation is str:
        return _constrained(str, metadata, lengths=True, pattern=True)
    if annotation is int:
        return _integer(metadata, checks)
    if annotation is float:
        return _constrained(float, metadata, bounds=True, finite=True)
    raise Unmirrored(f"type {annotation!r}")  # datetimes in data, JSON values, ...


def _need(
    checks: list[Callable[[Any], object]] | None, annotation: Any
) -> list[Callable[[Any], object]]:
    if checks is None:
        raise Unmirrored(f"{annotation!r} inside a container")
    return checks


def _integer(metadata: list[Any], checks: list[Callable[[Any], object]] | None) -> Any:
    """msgspec takes integer bounds within int64 only: a wider one becomes a check."""
    base = _constrained(int, metadata, bounds=True)
    if get_origin(base) is not Annotated:
        return base
    meta = get_args(base)[1]
    wide = {
        key: bound
        for key in ("ge", "le", "gt", "lt")
        if (bound := getattr(meta, key)) is not None and not _INT64_MIN <= bound <= _INT64_MAX
    }
    if not wide:
        return base
    _need(checks, int).append(functools.partial(_check_bounds, **wide))
    kept = {key: getattr(meta, key) for key in ("ge", "le", "gt", "lt") if key not in wide}
    return Annotated[int, msgspec.Meta(**{k: v for k, v in kept.items() if v is not None})]


def _check_bounds(
    value: int,
    ge: int | None = None,
    le: int | None = None,
    gt: int | None = None,
    lt: int | None = None,
) -> None:
    if (
        (ge is not None and value < ge)
        or (le is not None and value > le)
        or (gt is not None and value <= gt)
        or (lt is not None and value >= lt)
    ):
        raise ValueError("integer out of range")


def _refuse_constraints(annotation: Any, metadata: list[Any]) -> None:
    if metadata:
        raise Unmirrored(f"{annotation!r} with {metadata!r}")


def _constrained(
    base: Any,
    metadata: list[Any],
    *,
    lengths: bool = False,
    pattern: bool = False,
    bounds: bool = False,
    finite: bool = False,
) -> Any:
    meta: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is None:
            return
        if key in meta and meta[key] != value:
            raise Unmirrored(f"{key} given twice")
        meta[key] = value

    for item in metadata:
        if lengths and isinstance(item, annotated_types.MinLen):
            put("min_length", item.min_length)
        elif lengths and isinstance(item, annotated_types.MaxLen):
            put("max_length", item.max_length)
        elif bounds and type(item) in _BOUNDS:
            key = _BOUNDS[type(item)]
            put(key, getattr(item, key))
        elif isinstance(item, StringConstraints) and lengths and pattern:
            if item.strip_whitespace or item.to_upper or item.to_lower or item.strict:
                raise Unmirrored(f"transforming constraint {item!r}")
            put("min_length", item.min_length)
            put("max_length", item.max_length)
            put("pattern", _pattern(item.pattern))
        elif pattern and type(item).__name__ == "_PydanticGeneralMetadata":
            extra = dict(vars(item))
            put("pattern", _pattern(extra.pop("pattern", None)))
            if extra:
                raise Unmirrored(f"constraints {extra!r}")
        elif finite and isinstance(item, AllowInfNan) and not item.allow_inf_nan:
            put("ge", -_FLOAT_MAX)
            put("le", _FLOAT_MAX)
        else:
            raise Unmirrored(f"constraint {item!r} on {base!r}")
    return Annotated[base, msgspec.Meta(**meta)] if meta else base


def _pattern(pattern: str | re.Pattern[str] | None) -> str | None:
    """pydantic's patterns run on Rust's regex, where ``$`` is the end of the text; Python's ``$``
    also matches before a final newline: ``\\Z`` is the Rust meaning."""
    if pattern is None:
        return None
    text = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if not re.fullmatch(r"\^[\[\]a-z0-9_\-\\.()*+?{},|]*\$", text) or re.search(r"\\[a-z]", text):
        raise Unmirrored(f"pattern {text!r}")  # only simple ASCII patterns: same in both engines
    return text[:-1] + r"\Z"


__all__ = ["REFUSED", "FastParser", "Unmirrored", "data_json", "is_fast"]
