"""Declared options: the keyword options a configurable class (loss term, model, discriminator) accepts.

A class lists its options as ``Option`` entries: name, default, what values are allowed, and a
one-line doc. ``Configurable.check_options(**values)`` validates values against them and returns
every option with its default filled in, so the config check (before any job runs) and the
constructor (inside the job) apply exactly the same rules, and a misspelt key is an error instead
of being silently ignored. Every error names the option, the value and what was expected.

This module imports no torch: the declarations are plain data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

_TYPE_NAMES = {float: "a number", int: "an integer", bool: "true or false", str: "a string", dict: "a mapping"}


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

    ``type``: float (any finite number; ints are accepted), int, bool, str, dict, or object (any
    value: ``parse`` decides). ``choices``: the allowed values; ``what`` names them in the error
    ("unknown <what> 'x'"). ``gt``/``ge``/``le``: bounds of a number. ``nullable``: None is
    allowed (it means "not set"). ``parse``: checks a structured value and returns its normalised
    form, raising ValueError with the reason otherwise.
    """

    name: str
    default: Any
    doc: str
    type: type = float
    choices: tuple = ()
    what: str = ""
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    nullable: bool = False
    parse: Callable[[Any], Any] | None = None

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
        if self.parse is not None:
            try:
                return self.parse(value)
            except ValueError as e:
                raise OptionError(self.name, str(e)) from None
        return value

    def expected(self) -> str:
        """What a valid value is, in words: "a number > 0", "an integer between 1 and 5", ..."""
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        text = _TYPE_NAMES.get(self.type, "a value")
        if self.ge is not None and self.le is not None:
            text += f" between {self.ge:g} and {self.le:g}"
        elif self.gt is not None:
            text += f" > {self.gt:g}"
        elif self.ge is not None:
            text += f" >= {self.ge:g}"
        elif self.le is not None:
            text += f" <= {self.le:g}"
        return text + (" (or null)" if self.nullable else "")

    def _right_type(self, value: Any) -> bool:
        if self.type is object:
            return True
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
            and (self.le is None or value <= self.le)
        )


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
