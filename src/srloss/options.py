"""Declared options: the keyword options a configurable class (loss term, model, discriminator) accepts.

A class lists its options as ``Option`` entries: name, default, what values are allowed, and a
one-line doc. ``Configurable.check_options(**values)`` validates values against them and returns
every option with its default filled in, so the config check (before any job runs) and the
constructor (inside the job) apply exactly the same rules, and a misspelt key is an error instead
of being silently ignored. Every error names the option, the value and what was expected.

This module imports no torch: the declarations are plain data.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

_TYPE_NAMES = {
    float: "a number",
    int: "an integer",
    bool: "true or false",
    str: "a string",
    dict: "a mapping",
    list: "a list",
}
_JSON_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string", dict: "object", list: "array"}


class OptionError(ValueError):
    """An option's value is not allowed; ``option`` is its name (a dotted path for nested options)."""

    def __init__(self, option: str, detail: str):
        self.option, self.detail = option, detail
        super().__init__(f"option {option}: {detail}")


class UnknownOptionError(OptionError):
    """An option name the class does not declare."""


@dataclass(frozen=True)
class Option:
    """One keyword option.

    ``type``: float (any finite number; ints are accepted; NaN and infinity are not), int, bool,
    str, dict, list, or object (any value: ``parse`` decides). ``choices``: the allowed values;
    ``what`` names them in the error ("unknown <what> 'x'"). ``gt``/``ge``/``lt``/``le``: bounds of
    a number. ``pattern``: a regular expression a string must match in full (``pattern_doc`` says
    it in words). ``nullable``: None is allowed (it means "not set"). ``parse``: checks a
    structured value and returns its normalised form, raising ValueError with the reason
    otherwise; ``schema`` then gives its JSON Schema (e.g. a number or a mapping).

    A list option declares its items as an ``Option`` (``item``; its name is unused) and may bound
    its length (``min_items``, ``max_items``) and require distinct items (``unique``); it is
    returned as a list. ``json_schema`` gives the same rules as JSON Schema, so the config schema is
    generated from these declarations.
    """

    name: str
    default: Any
    doc: str
    type: type = float
    choices: tuple = ()
    what: str = ""
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    pattern: str | None = None
    pattern_doc: str = ""
    nullable: bool = False
    parse: Callable[[Any], Any] | None = None
    schema: dict | None = None
    item: "Option | None" = None
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False

    def check(self, value: Any) -> Any:
        """The value, validated (and normalised by ``parse``); ``OptionError`` if it is not allowed."""
        if value is None and self.nullable:
            return None
        if self.choices:
            if not _hashable(value) or value not in self.choices:
                valid = ", ".join(str(c) for c in self.choices)
                lead = f"unknown {self.what} {value!r}" if self.what else f"{value!r} is not a choice"
                raise OptionError(self.name, f"{lead}; valid choices: {valid}")
            return value
        if not self._right_type(value) or not self._in_range(value):
            raise OptionError(self.name, f"expected {self.expected()}, got {value!r}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise OptionError(self.name, f"expected {self.expected()}, got {value!r}")
        if self.type is list:
            value = self._check_items(list(value))
        if self.parse is not None:
            try:
                return self.parse(value)
            except ValueError as e:
                raise OptionError(self.name, str(e)) from None
        return value

    def _check_items(self, items: list) -> list:
        n = len(items)
        if (self.min_items is not None and n < self.min_items) or (self.max_items is not None and n > self.max_items):
            raise OptionError(self.name, f"expected {self.expected()}, got {n} item(s)")
        if self.item is not None:
            checked = []
            for i, item in enumerate(items):
                try:
                    checked.append(self.item.check(item))
                except OptionError as e:
                    raise OptionError(f"{self.name}[{i}]", e.detail) from None
            items = checked
        if self.unique:
            seen = [item for i, item in enumerate(items) if item in items[:i]]
            if seen:
                raise OptionError(self.name, f"{seen[0]!r} is listed twice; expected distinct items")
        return items

    def expected(self) -> str:
        """What a valid value is, in words: "a number > 0", "an integer between 1 and 5", ..."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type is list:
            text = "a list"
            if self.min_items is not None and self.min_items == self.max_items:
                text += f" of {self.min_items} items"
            elif self.min_items:
                text += f" of at least {self.min_items} item{'s' if self.min_items > 1 else ''}"
            elif self.max_items is not None:
                text += f" of at most {self.max_items} items"
            if self.item is not None:
                text += f", each {self.item.expected()}"
            return text + (" (or null)" if self.nullable else "")
        if self.pattern_doc:
            return self.pattern_doc + (" (or null)" if self.nullable else "")
        text = _TYPE_NAMES.get(self.type, "a value")
        if self.ge is not None and self.le is not None:
            text += f" between {self.ge:g} and {self.le:g}"
        else:
            limits = ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
            text += " " + " and ".join(f"{op} {v:g}" for op, v in limits if v is not None)
        return text.rstrip() + (" (or null)" if self.nullable else "")

    def json_schema(self) -> dict[str, Any]:
        """The option as JSON Schema (draft 2020-12): type, bounds, choices, default, description."""
        schema: dict[str, Any] = dict(self.schema or {})
        if self.schema is not None:
            pass
        elif self.choices:
            schema["enum"] = [*self.choices, *([None] if self.nullable else [])]
            if self.what:
                schema["x-what"] = self.what  # names the choices in the one-line error (srloss.study.schema)
        elif self.type in _JSON_TYPES:
            kind = _JSON_TYPES[self.type]
            schema["type"] = [kind, "null"] if self.nullable else kind
            bounds = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
            schema.update({key: getattr(self, attr) for attr, key in bounds.items() if getattr(self, attr) is not None})
            if self.pattern is not None:
                schema["pattern"] = f"^(?:{self.pattern})$"
                schema["x-expected"] = self.expected()  # the one-line error says this (srloss.study.schema)
            if self.type is list:
                if self.item is not None:
                    schema["items"] = {k: v for k, v in self.item.json_schema().items() if k not in ("description",)}
                    schema["items"].pop("default", None)
                if self.min_items is not None:
                    schema["minItems"] = self.min_items
                if self.max_items is not None:
                    schema["maxItems"] = self.max_items
                if self.unique:
                    schema["uniqueItems"] = True
        schema["default"] = _plain(self.default)
        schema["description"] = self.doc
        return schema

    def _right_type(self, value: Any) -> bool:
        if self.type is object:
            return True
        if self.type is list:
            return isinstance(value, (list, tuple))
        if isinstance(value, bool):
            return self.type is bool
        if self.type is float:
            return isinstance(value, (int, float)) and math.isfinite(value)
        return isinstance(value, self.type)

    def _in_range(self, value: Any) -> bool:
        if self.type not in (int, float):
            return True
        return (
            (self.gt is None or value > self.gt)
            and (self.ge is None or value >= self.ge)
            and (self.lt is None or value < self.lt)
            and (self.le is None or value <= self.le)
        )


def _plain(value: Any) -> Any:
    """A default as the JSON value it reads as (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def check_options(owner: str, options: tuple[Option, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``values`` against ``options``: every declared option, with defaults filled in.

    Defaults go through the same check, so a structured default (e.g. a layer list) comes back
    normalised exactly as a configured value would.
    """
    declared = {o.name: o for o in options}
    for name in values:
        if name not in declared:
            valid = ", ".join(declared) or "(none)"
            raise UnknownOptionError(name, f"unknown option for {owner}; valid options: {valid}")
    return {o.name: o.check(values.get(o.name, o.default)) for o in options}


class Configurable:
    """Mixin for classes configured by keyword options (loss terms, models, discriminators).

    A subclass declares ``options``; ``check_together`` adds rules that involve several options.
    ``_set_options`` (called by the base class constructors) stores each checked option as an
    attribute of the same name, so ``Option("eps", ...)`` is read as ``self.eps``.
    """

    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def check_options(cls, **values: Any) -> dict[str, Any]:
        """Every option of ``cls`` validated (``OptionError`` naming the option otherwise), defaults filled in."""
        checked = check_options(cls.__name__, cls.options, values)
        cls.check_together(checked)
        return checked

    @classmethod
    def check_together(cls, options: dict[str, Any]) -> None:
        """Rules involving several options (raise ``OptionError``); none by default."""

    @classmethod
    def option_names(cls) -> list[str]:
        return [o.name for o in cls.options]

    def _set_options(self, values: Mapping[str, Any]) -> None:
        for name, value in self.check_options(**values).items():
            setattr(self, name, value)


# ----- settings: a config section as a dataclass whose fields are declared options -------------


def setting(default: Any, doc: str, **rules: Any) -> Any:
    """A field of a ``Settings`` section: its default, a one-line doc (the schema's and the docs'
    description), and the rules of its ``Option`` (``ge``, ``choices``, ``item``, ...). The field's
    type annotation gives the option's type: ``int``, ``float``, ``bool``, ``str``, ``X | None``
    (nullable), ``tuple[float, float]`` (a list of two), ``tuple[int, ...]`` (a list), or another
    ``Settings`` class (a nested section)."""
    metadata = {"doc": doc, "rules": rules}
    if isinstance(default, type) and issubclass(default, Settings):
        return field(default_factory=default, metadata=metadata)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _option_type(hint: Any) -> tuple[Any, dict]:
    """(Option type, extra Option arguments) of a field's type annotation."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        inner = next(a for a in args if a is not type(None))
        kind, extra = _option_type(inner)
        return kind, {**extra, "nullable": True}
    if origin in (tuple, list):
        fixed = args and args[-1] is not Ellipsis
        item_kind, item_extra = _option_type(args[0]) if args else (object, {})
        extra = {"item": Option("", None, "", type=item_kind, **item_extra)}
        if fixed:
            extra.update(min_items=len(args), max_items=len(args))
        return list, extra
    if origin is dict or hint is dict:
        return dict, {}
    return (hint if hint in _JSON_TYPES else object), {}


class Settings:
    """A config section (``training``, ``evaluation``, a dataset's ``degradation``) declared once.

    Subclasses are frozen dataclasses whose fields are ``setting(...)``s; from those declarations
    come the section's ``options`` (checked values, defaults), its JSON Schema (``json_schema``:
    the config schema is generated from it) and the typed object the code reads
    (``from_dict``). ``check_together`` adds rules that involve several fields.
    """

    @classmethod
    def options(cls) -> tuple[Option, ...]:
        """One ``Option`` per field that is not a nested section."""
        hints = typing.get_type_hints(cls)
        options = []
        for f in fields(cls):
            if f.name in cls.sections():
                continue
            kind, extra = _option_type(hints[f.name])
            default = f.default if f.default is not MISSING else f.default_factory()
            options.append(Option(f.name, default, f.metadata["doc"], type=kind, **{**extra, **f.metadata["rules"]}))
        return tuple(options)

    @classmethod
    def sections(cls) -> dict[str, type["Settings"]]:
        """Nested sections by field name."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints[f.name]
            for f in fields(cls)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Settings)
        }

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in fields(cls)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None) -> "Settings":
        """The section from config values: each checked by its option (``OptionError`` naming the
        dotted key otherwise), missing ones at their defaults, unknown keys refused."""
        values = dict(values or {})
        declared = [f.name for f in fields(cls)]
        unknown = [k for k in values if k not in declared]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownOptionError(
                str(unknown[0]), f"unknown key {unknown[0]!r}{hint}; valid keys: {', '.join(declared)}"
            )
        checked: dict[str, Any] = {}
        for option in cls.options():
            value = option.check(values.get(option.name, option.default))
            checked[option.name] = tuple(value) if isinstance(value, list) else value
        for name, section in cls.sections().items():
            try:
                checked[name] = section.from_dict(values.get(name))
            except OptionError as e:
                raise type(e)(f"{name}.{e.option}", e.detail) from None
        cls.check_together(checked)
        return cls(**checked)

    @classmethod
    def check_together(cls, values: dict[str, Any]) -> None:
        """Rules involving several fields (raise ``OptionError``); none by default."""

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The section as a JSON Schema object: every field with its rules, default and description."""
        properties = {o.name: o.json_schema() for o in cls.options()}
        for name, section in cls.sections().items():
            properties[name] = {**section.json_schema(), "description": cls.field_docs()[name]}
        ordered = {f.name: properties[f.name] for f in fields(cls)}
        return {"type": "object", "additionalProperties": False, "default": {}, "properties": ordered}

    def as_dict(self) -> dict[str, Any]:
        """The section as plain config values (tuples as lists)."""
        return _plain(asdict(self))
