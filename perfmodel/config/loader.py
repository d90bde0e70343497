"""Reading profiles and scenarios: safe YAML, --set overrides, one-line errors."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from perfmodel.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        seen[key] = True
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise ConfigError(name, None, "no such file")
    if p.is_dir():
        raise ConfigError(name, None, "is a directory, not a YAML file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(name, None, f"cannot read: {e}") from None
    return parse_yaml(text, name)


class _DuplicateKey(Exception):
    def __init__(self, key_path: str, problem: str) -> None:
        self.key_path, self.problem = key_path, problem


def _find_duplicate(node: yaml.Node | None, path: tuple[Any, ...], seen_nodes: set[int]) -> None:
    """Raise on the first duplicate mapping key, naming its key path (before construction)."""
    if node is None or id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first:
                raise _DuplicateKey(
                    format_loc((*path, key)),
                    f"duplicate key at line {line} (first at line {first[key]})",
                )
            first[key] = line
            _find_duplicate(value_node, (*path, key), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicate(item, (*path, i), seen_nodes)


def parse_yaml(text: str, name: str) -> dict[str, Any]:
    try:
        _find_duplicate(yaml.compose(text, Loader=yaml.SafeLoader), (), set())
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as e:
        raise ConfigError(name, e.key_path, e.problem) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(name, None, f"malformed YAML: {where}{problem}") from None
    if data is None:
        raise ConfigError(name, None, "file is empty")
    if not isinstance(data, dict):
        raise ConfigError(name, None, f"top level must be a mapping, got {type(data).__name__}")
    return data


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _problem(err: dict[str, Any]) -> str:
    typ = err.get("type", "")
    if typ == "extra_forbidden":
        return "unknown key"
    if typ == "missing":
        return "required key is missing"
    msg = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    inp = err.get("input")
    if typ not in ("value_error",) and isinstance(inp, str | int | float | bool) and inp != "":
        msg += f" (got {inp!r})"
    return msg


# A validator's message may start with the key it is about, relative to the
# section it checks: "numa.nodes: CPUs [1] are in no node".
_KEY_PREFIX_RE = re.compile(r"^([\w-]+(?:\[\d+\])*(?:\.[\w-]+(?:\[\d+\])*)*): (.+)$", re.DOTALL)


def validate(model: type[M], data: dict[str, Any], name: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        first = errs[0]
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        key_path = format_loc(tuple(first["loc"]))
        problem = _problem(first)
        m = _KEY_PREFIX_RE.match(problem) if first.get("type") == "value_error" else None
        if m:
            key_path = f"{key_path}.{m.group(1)}" if key_path else m.group(1)
            problem = m.group(2)
        raise ConfigError(name, key_path or None, problem + more) from None


def apply_overrides(data: dict[str, Any], overrides: list[str] | None, name: str) -> dict[str, Any]:
    """Apply --set key.path=value; values are read as YAML scalars (5, Y, lz4)."""
    if not overrides:
        return data
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(name, None, f"--set {item!r}: expected key.path=value")
        path, raw = item.split("=", 1)
        keys = [k for k in path.strip().split(".")]
        if not all(keys):
            raise ConfigError(name, None, f"--set {item!r}: empty key in path")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node: Any = data
        for i, k in enumerate(keys[:-1]):
            if isinstance(node, list):
                if not k.isdigit() or int(k) >= len(node):
                    raise ConfigError(name, ".".join(keys[: i + 1]), f"--set: no list item {k}")
                node = node[int(k)]
                continue
            if k not in node or node[k] is None:
                node[k] = {}
            if not isinstance(node[k], dict | list):
                raise ConfigError(name, ".".join(keys[: i + 1]), "--set: not a section")
            node = node[k]
        last = keys[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(name, path, f"--set: no list item {last}")
            node[int(last)] = value
        else:
            node[last] = value
    return data


def load_model(model: type[M], path: str | Path, overrides: list[str] | None = None) -> M:
    name = str(path)
    data = apply_overrides(read_yaml(path), overrides, name)
    return validate(model, data, name)
