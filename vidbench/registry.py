"""The one method registry: built-in names, the `vidbench.methods` entry-point group of installed
packages, and `path/to/file.py:ClassName` for a user's file. Options (`-M key=value`, a YAML file)
are validated by the method's own Config, so unknown keys and bad values fail before any work."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vidbench.contracts import Method
from vidbench.errors import UserError

ENTRY_POINT_GROUP = "vidbench.methods"


# Built-in method classes by "module:Class". Nothing is imported until a method is listed or
# built; each class declares its own summary and named configurations.
BUILTIN_CLASSES: tuple[str, ...] = (
    "vidbench_methods.trivial:RandomMethod",
    "vidbench_methods.trivial:ConstantAMethod",
    "vidbench_methods.lmm:LMMMethod",
    "vidbench_methods.viddiff.method:VidDiffMethod",
)


@dataclass(frozen=True)
class MethodEntry:
    name: str
    target: str  # "module:Class"
    summary: str
    defaults: Mapping[str, Any]


def _entries_of(target: str, where: str) -> dict[str, MethodEntry]:
    """The class's own name and its named configurations, with the class's summaries."""
    cls = _import_target(target, where=where)
    entries = {cls.name: MethodEntry(cls.name, target, cls.summary, {})}
    for name, named in cls.named_configs.items():
        entries[name] = MethodEntry(name, target, named.summary, dict(named.options))
    return entries


def available_methods() -> dict[str, MethodEntry]:
    """Every method name the CLI accepts, built-ins first, then installed plugins."""
    entries: dict[str, MethodEntry] = {}
    for target in BUILTIN_CLASSES:
        entries.update(_entries_of(target, where=f"built-in method {target}"))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        entries.setdefault(ep.name, MethodEntry(ep.name, ep.value, "installed plugin", {}))
    return entries


def _import_target(target: str, *, where: str) -> type[Method]:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"cannot import method module {module_name!r}: {exc}",
            where=where,
            fix="check the name, or install the package that provides it",
        ) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise UserError(
            f"{target!r} is not a vidbench Method subclass",
            where=where,
            fix="point at a class that subclasses vidbench.contracts.Method",
        )
    return cls


def _import_file(spec: str) -> type[Method]:
    file_part, _, class_name = spec.rpartition(":")
    path = Path(file_part).expanduser()
    if not path.is_file():
        raise UserError(
            f"method file {file_part!r} not found", fix="use --method path/to/file.py:Class"
        )
    module_name = f"vidbench_user_{path.stem}"
    mod_spec = importlib.util.spec_from_file_location(module_name, path)
    assert mod_spec and mod_spec.loader
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[module_name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # a user's file: report, don't crash
        raise UserError(
            f"importing {path} failed: {type(exc).__name__}: {exc}",
            fix="fix the error in that file",
        ) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise UserError(
            f"{class_name!r} in {path} is not a vidbench Method subclass",
            fix="subclass vidbench.contracts.Method and name that class",
        )
    return cls


def build_method(spec: str, options: Mapping[str, Any] | None = None) -> Method:
    """A configured method from a registry name or `file.py:Class`, options validated."""
    options = dict(options or {})
    defaults: Mapping[str, Any] = {}
    if spec.endswith(".py") or ".py:" in spec:
        if ":" not in spec:
            raise UserError(
                f"--method {spec} names a file but no class", fix=f"use {spec}:ClassName"
            )
        cls, name = _import_file(spec), spec
    else:
        entries = available_methods()
        entry = entries.get(spec)
        if entry is None:
            raise UserError(
                f"unknown method {spec!r}",
                fix=f"run `vidbench methods`; known: {', '.join(sorted(entries))}",
            )
        cls, defaults, name = (
            _import_target(entry.target, where=f"method {spec!r}"),
            entry.defaults,
            spec,
        )
    return instantiate(cls, {**defaults, **options}, name)


def instantiate(cls: type[Method], options: Mapping[str, Any], name: str) -> Method:
    """`cls` configured with `options`, validated by its Config (also for classes handed over
    directly, e.g. defined in a notebook)."""
    try:
        config = cls.Config(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        fields = ", ".join(cls.Config.model_fields) or "(none)"
        raise UserError(
            f"bad options for method {name!r}: {problems}", fix=f"options of {name}: {fields}"
        ) from None
    method = cls(config)
    method.registry_name = name  # type: ignore[attr-defined]
    return method


def parse_options(pairs: list[str] | None, config_file: str | None = None) -> dict[str, Any]:
    """`-M key=value` pairs (values read as YAML scalars) over an optional YAML file."""
    options: dict[str, Any] = {}
    if config_file:
        path = Path(config_file).expanduser()
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise UserError(f"method config file {config_file!r} not found") from None
        except yaml.YAMLError as exc:
            raise UserError(
                f"method config file {config_file!r} is not valid YAML: {exc}"
            ) from None
        if not isinstance(loaded, dict):
            raise UserError(f"method config file {config_file!r} must hold a mapping of options")
        options.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"-M {pair!r} is not key=value", fix="e.g. -M model=gpt-4o -M fps=2")
        try:
            options[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            options[key.strip()] = value
    return options


def method_options(spec: str) -> list[str]:
    """One line per option of a method: name, type, default (with the named configuration's
    overrides applied) and description."""
    entry = available_methods().get(spec)
    if entry is None:
        raise UserError(f"unknown method {spec!r}", fix="run `vidbench methods` for the names")
    cls = _import_target(entry.target, where=f"method {spec!r}")
    lines = [f"{spec}: {entry.summary}", ""]
    for field_name, info in cls.Config.model_fields.items():
        default = entry.defaults.get(field_name, info.default)
        if typing.get_origin(info.annotation) is typing.Literal:
            kind = "|".join(str(a) for a in typing.get_args(info.annotation))
        else:
            kind = getattr(info.annotation, "__name__", None) or str(info.annotation)
        note = f"  {info.description}" if info.description else ""
        lines.append(f"  -M {field_name}=...  ({kind}, default {default!r}){note}")
    if len(lines) == 2:
        lines.append("  (no options)")
    return lines
