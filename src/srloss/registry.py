"""Registries: each kind of building block (model, loss term, metric, data source, ...) by name.

A thing registers itself where it is defined, with everything the rest of the system needs to
know about it declared on it (as BasicSR registers its architectures)::

    from srloss.models.base import MODELS, SRModel

    @MODELS.register("espcn")
    class ESPCN(SRModel):
        scales = (2, 3, 4, 8)
        ...

The registry finds its members by importing every module of its package the first time it is
asked for one, so adding a model, loss, metric or source is one new module: no list elsewhere
names it. A registry may check each member as it registers (``check``): a member that lacks a
declaration the rest of the system relies on fails right there, naming what is missing, rather
than later with a wrong or empty result.

No torch: the members' modules import what they need when the registry loads them.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from srloss.errors import UserError

T = TypeVar("T")


class RegistryError(TypeError):
    """A member cannot be registered: a name used twice, or a declaration missing or wrong."""


class UnknownName(UserError, KeyError):
    """A name that no member of the registry has; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    """Name -> member, for one ``kind`` of member (its name in messages: "model", "loss term").

    ``package``: the package whose modules register members (imported on first lookup).
    ``check(name, member)``: raises ``RegistryError`` naming what a member lacks.
    ``order(member)``: the key members are listed by (a declared display order); by name without
    it (registration order depends on which module a process happened to import first).
    ``aliases``: earlier names that still work (they are not listed as choices).
    """

    def __init__(
        self,
        kind: str,
        package: str,
        check: Callable[[str, T], None] | None = None,
        order: Callable[[T], Any] | None = None,
    ):
        self.kind, self.package, self._check, self._order = kind, package, check, order
        self._members: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator: register the class (or object) below under ``name``; its ``name`` attribute is set."""

        def decorate(member: T) -> T:
            for key in (name, *aliases):
                if key in self._members or key in self._aliases:
                    raise RegistryError(f"{self.kind} {key!r} is registered twice ({self.package})")
            if self._check is not None:
                self._check(name, member)
            try:
                member.name = name  # type: ignore[attr-defined]
            except AttributeError:
                pass
            self._members[name] = member
            self._aliases.update(dict.fromkeys(aliases, name))
            return member

        return decorate

    @contextlib.contextmanager
    def registered(self, name: str, member: T) -> Iterator[T]:
        """Register ``member`` under ``name`` for the duration of a ``with`` block (tests: a throwaway
        member, checked like any other, gone afterwards)."""
        self.load()
        self.register(name)(member)
        try:
            yield member
        finally:
            del self._members[name]

    def load(self) -> "Registry[T]":
        """Import every module of the package once, so every member has registered."""
        if not self._loaded:
            self._loaded = True
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                importlib.import_module(f"{self.package}.{module.name}")
        return self

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (itself, or what an alias stands for)."""
        self.load()
        return self._aliases.get(name, name)

    def __getitem__(self, name: str) -> T:
        self.load()
        key = self._aliases.get(name, name)
        if key not in self._members:
            close = difflib.get_close_matches(str(name), list(self._members), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownName(f"unknown {self.kind} {name!r}{hint}; valid choices: {', '.join(sorted(self._members))}")
        return self._members[key]

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._members or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        members = self.load()._members
        order = self._order or (lambda member: 0)
        return iter(sorted(members, key=lambda name: (order(members[name]), name)))

    def __len__(self) -> int:
        return len(self.load()._members)

    def aliases(self) -> dict[str, str]:
        """Earlier name -> registered name."""
        self.load()
        return dict(self._aliases)
