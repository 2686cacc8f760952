"""Notebook functions as tools the model can call: their JSON schema, and calling them safely.

The schema is read from what a function already says about itself (its
signature, type hints and docstring), so any notebook function becomes a tool
without a decorator. Calling never raises: bad JSON, wrong arguments and
exceptions inside the function become error text for the model, which can then
correct itself, and the cell carries on. Only the functions in one
``Toolbox`` (the cell's ``--tools``) can run; any other name the model asks for
is refused.
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import functools
import inspect
import json
import re
import sys
import time
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from .errors import GLMUsageError
from .events import ToolCall

#: Longest tool result sent back to the model, in characters; the rest is cut with a note.
MAX_RESULT_CHARS = 10_000

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PRIMITIVES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
UNIONS = (Union, types.UnionType)
ARRAYS = (
    list,
    tuple,
    set,
    frozenset,
    abc.Sequence,
    abc.MutableSequence,
    abc.Set,
    abc.MutableSet,
    abc.Collection,
    abc.Iterable,
)
OBJECTS = (dict, abc.Mapping, abc.MutableMapping)
NONE_TYPE = type(None)
EMPTY = inspect.Parameter.empty


class ArgumentError(ValueError):
    """The model's arguments do not fit the function; the message is sent back to it."""


# -- schema ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    """One callable with the name and schema the model sees."""

    name: str
    func: Callable[..., Any]
    description: str
    parameters: dict[str, Any]
    signature: inspect.Signature
    hints: dict[str, Any]

    def spec(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list (OpenAI function-tool shape)."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}

    def bind(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the call, converted to the annotated types."""
        params = self.signature.parameters
        takes_extra = any(p.kind is p.VAR_KEYWORD for p in params.values())
        named = {n: p for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        unknown = [n for n in arguments if n not in named]
        if unknown and not takes_extra:
            takes = ", ".join(map(repr, named)) or "no arguments"
            msg = f"unexpected {_names(unknown)} (it takes {takes})"
            raise ArgumentError(msg)
        missing = [n for n, p in named.items() if p.default is EMPTY and n not in arguments]
        if missing:
            msg = f"missing required {_names(missing)}"
            raise ArgumentError(msg)
        kwargs = {n: _convert(v, self.hints.get(n, EMPTY), repr(n)) for n, v in arguments.items()}
        positional = [n for n, p in named.items() if p.kind is p.POSITIONAL_ONLY and n in kwargs]
        args = [kwargs.pop(n) for n in positional]
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ArgumentError(str(exc)) from exc
        return args, kwargs


def _names(names: Iterable[str]) -> str:
    names = list(names)
    return f"argument{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"


def make_tool(func: Callable[..., Any], name: str | None = None) -> Tool:
    """The ``Tool`` for ``func``, named ``name`` (default: the function's own name)."""
    if not callable(func):
        msg = f"Tool {name or func!r} is not callable (its type is {type(func).__name__})."
        raise GLMUsageError(msg)
    name = name or getattr(func, "__name__", None)
    if not name or not NAME_PATTERN.match(name):
        msg = (
            f"Tool name {name!r} cannot be sent to the model: use 1-64 letters, digits, "
            "'_' or '-' (define it with `def`, or pass tools as a dict {'name': function})."
        )
        raise GLMUsageError(msg)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        msg = f"Cannot read the parameters of tool {name!r} ({exc}); wrap it in a `def`."
        raise GLMUsageError(msg) from exc
    hints = _hints(func)
    description, texts = parse_docstring(inspect.getdoc(func) or "")
    defs: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = dict(_schema(hints.get(pname, EMPTY), defs))
        if pname in texts:
            schema["description"] = texts[pname]
        if param.default is EMPTY:
            required.append(pname)
        else:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            if default is None or isinstance(default, str | int | float | bool):
                schema["default"] = default
        properties[pname] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    if defs:
        parameters["$defs"] = defs
    return Tool(name, func, description, parameters, signature, hints)


def function_schema(func: Callable[..., Any], name: str | None = None) -> dict[str, Any]:
    """What the model is told about ``func``: ``{"type": "function", "function": {...}}``."""
    return make_tool(func, name).spec()


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Resolved type hints, from the function (or a callable object's ``__call__``)."""
    target: Any = func
    while isinstance(target, functools.partial):
        target = target.func
    if isinstance(target, type):
        target = target.__init__
    elif not inspect.isroutine(target):
        target = type(target).__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    # A name that does not resolve (defined inside another function, or not yet):
    # resolve the annotations one by one and leave only the failing ones untyped.
    hints: dict[str, Any] = {}
    namespace = getattr(target, "__globals__", {})
    for name, value in (getattr(target, "__annotations__", None) or {}).items():
        probe = types.SimpleNamespace(__annotations__={name: value}, __globals__=namespace)
        try:
            hints.update(typing.get_type_hints(probe, include_extras=True))
        except Exception:
            continue
    return hints


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """JSON schema for one annotation; ``{}`` (anything) for what has no JSON form."""
    if tp is EMPTY or tp is Any:
        return {}
    if tp is None or tp is NONE_TYPE:
        return {"type": "null"}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        schema = dict(_schema(args[0], defs))
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    if origin in UNIONS:
        options = [_schema(a, defs) for a in args]
        if all(set(o) == {"type"} and isinstance(o["type"], str) for o in options):
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    if origin is Literal:
        return _enum_schema(list(args))
    if origin is not None:
        return _container_schema(origin, args, defs)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return _enum_schema([_enum_key(m) for m in tp])
        if _is_pydantic(tp):
            return _pydantic_schema(tp, defs)
        for kind in (bool, int, float, str):
            if issubclass(tp, kind):
                return {"type": PRIMITIVES[kind]}
        if tp in ARRAYS or tp in OBJECTS:
            return _container_schema(tp, (), defs)
    return {}


def _container_schema(origin: Any, args: tuple[Any, ...], defs: dict[str, Any]) -> dict[str, Any]:
    if origin in OBJECTS:
        schema: dict[str, Any] = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = _schema(args[1], defs)
        return schema
    if origin not in ARRAYS:
        return {}
    schema = {"type": "array"}
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        items = [_schema(a, defs) for a in args]
        unique = [s for i, s in enumerate(items) if s not in items[:i]]
        schema["items"] = unique[0] if len(unique) == 1 else {"anyOf": unique}
        schema["minItems"] = schema["maxItems"] = len(args)
    elif args and args[0] is not Any:
        schema["items"] = _schema(args[0], defs)
    if origin in (set, frozenset, abc.Set, abc.MutableSet):
        schema["uniqueItems"] = True
    return schema


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {_json_type(v) for v in values}
    if len(kinds) == 1:
        return {"type": kinds.pop(), "enum": values}
    return {"enum": values}


def _enum_by_name(tp: type[enum.Enum]) -> bool:
    """Enums whose values are not plain JSON are offered (and read back) by member name."""
    return not all(isinstance(m.value, str | int | float | bool) for m in tp)


def _enum_key(member: enum.Enum) -> Any:
    return member.name if _enum_by_name(type(member)) else member.value


def _is_pydantic(tp: Any) -> bool:
    """True for a pydantic model class. Never imports pydantic: a model class exists
    only if its defining code already did."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _pydantic_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = tp.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(schema.pop("$defs", {}))
    return schema


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# -- docstrings -------------------------------------------------------------------------

GOOGLE_HEADER = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters):\s*$",
    re.IGNORECASE,
)
GOOGLE_ENTRY = re.compile(r"^\**([A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
SPHINX_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\**([A-Za-z_]\w*)\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (first paragraph) and per-parameter texts of a docstring.

    Reads Google-style ``Args:`` sections, NumPy-style ``Parameters`` sections
    and Sphinx ``:param name:`` fields; the texts are joined into single lines.
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    first: list[str] = []
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or _is_header(lines, i) or text.startswith(":"):
            break
        first.append(text)
    texts: dict[str, list[str]] = {}
    for i, line in enumerate(lines):
        if GOOGLE_HEADER.match(line.strip()):
            _google_section(lines, i, texts)
        elif line.strip() in ("Parameters", "Other Parameters") and _rule_follows(lines, i):
            _numpy_section(lines, i, texts)
    _sphinx_fields(lines, texts)
    return " ".join(first), {k: " ".join(v).strip() for k, v in texts.items()}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rule_follows(lines: list[str], i: int) -> bool:
    return i + 1 < len(lines) and bool(NUMPY_RULE.match(lines[i + 1]))


def _is_header(lines: list[str], i: int) -> bool:
    return bool(GOOGLE_HEADER.match(lines[i].strip())) or _rule_follows(lines, i)


def _google_section(lines: list[str], start: int, texts: dict[str, list[str]]) -> None:
    base = _indent(lines[start])
    entry_indent: int | None = None
    current: str | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= base:
            return
        if entry_indent is None:
            entry_indent = indent
        match = GOOGLE_ENTRY.match(line.strip()) if indent == entry_indent else None
        if match:
            current = match.group(1)
            texts[current] = [match.group(2)]
        elif current is not None and indent > entry_indent:
            texts[current].append(line.strip())


def _numpy_section(lines: list[str], start: int, texts: dict[str, list[str]]) -> None:
    base = _indent(lines[start])
    current: list[str] = []
    i = start + 2
    while i < len(lines):
        line = lines[i]
        if line.strip():
            indent = _indent(line)
            if indent < base or (indent == base and _rule_follows(lines, i)):
                return
            if indent == base:
                names = line.split(":", 1)[0]
                current = [n.strip().lstrip("*") for n in names.split(",") if n.strip()]
                for name in current:
                    texts[name] = []
            else:
                for name in current:
                    texts[name].append(line.strip())
        i += 1


def _sphinx_fields(lines: list[str], texts: dict[str, list[str]]) -> None:
    current: str | None = None
    for line in lines:
        match = SPHINX_PARAM.match(line.strip())
        if match:
            current = match.group(1)
            texts[current] = [match.group(2)]
        elif current is not None and line.strip() and _indent(line) > 0:
            texts[current].append(line.strip())
        else:
            current = None


# -- calling ----------------------------------------------------------------------------


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` (decoded JSON) as the annotated type: Enum members, pydantic models,
    tuples and sets built; a value of the wrong JSON type is an ``ArgumentError``."""
    if tp is EMPTY or tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _convert(value, args[0], where)
    if origin in UNIONS:
        if value is None and NONE_TYPE in args:
            return None
        options = [a for a in args if a is not NONE_TYPE]
        problems = []
        for option in options:
            try:
                return _convert(value, option, where)
            except ArgumentError as exc:
                problems.append(str(exc))
        raise ArgumentError(" or ".join(problems))
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        msg = f"{where} must be one of {', '.join(map(json.dumps, args))}; got {_show(value)}"
        raise ArgumentError(msg)
    if origin is not None:
        return _convert_container(value, origin, args, where)
    if tp is None or tp is NONE_TYPE:
        if value is None:
            return None
        raise ArgumentError(f"{where} must be null; got {_show(value)}")
    if not isinstance(tp, type):
        return value
    if issubclass(tp, enum.Enum):
        try:
            return tp[value] if _enum_by_name(tp) else tp(value)
        except (KeyError, ValueError, TypeError):
            allowed = ", ".join(json.dumps(_enum_key(m)) for m in tp)
            raise ArgumentError(f"{where} must be one of {allowed}; got {_show(value)}") from None
    if _is_pydantic(tp):
        try:
            return tp.model_validate(value)
        except ValueError as exc:
            raise ArgumentError(f"{where} is not a valid {tp.__name__}: {exc}") from None
    for kind in (bool, int, float, str):
        if issubclass(tp, kind):
            return _primitive(value, kind, where)
    if tp in ARRAYS or tp in OBJECTS:
        return _convert_container(value, tp, (), where)
    return value


def _primitive(value: Any, kind: type, where: str) -> Any:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind is float and is_number:
        return float(value)
    if kind is int and is_number and float(value).is_integer():
        return int(value)
    article = "an" if PRIMITIVES[kind][0] == "i" else "a"
    raise ArgumentError(f"{where} must be {article} {PRIMITIVES[kind]}; got {_show(value)}")


def _convert_container(value: Any, origin: Any, args: tuple[Any, ...], where: str) -> Any:
    if origin in OBJECTS:
        if not isinstance(value, dict):
            raise ArgumentError(f"{where} must be an object; got {_show(value)}")
        item = args[1] if len(args) == 2 else Any
        return {k: _convert(v, item, f"{where}[{k!r}]") for k, v in value.items()}
    if origin not in ARRAYS:
        return value
    if not isinstance(value, list):
        raise ArgumentError(f"{where} must be an array; got {_show(value)}")
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        if len(value) != len(args):
            raise ArgumentError(f"{where} must have {len(args)} items; got {len(value)}")
        kinds: Sequence[Any] = args
    else:
        kinds = [args[0] if args else Any] * len(value)
    items = [
        _convert(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, kinds, strict=True))
    ]
    if origin in (tuple, set, frozenset):
        return origin(items)
    if origin in (abc.Set, abc.MutableSet):
        return set(items)
    return items


def _parse_arguments(text: str) -> tuple[dict[str, Any] | str, str | None]:
    """The model's arguments as a dict, or the raw text and what is wrong with it.

    Empty text counts as ``{}``: some models send nothing for a function without
    parameters.
    """
    try:
        decoded = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        return text, (
            f"are not valid JSON ({exc}); received {_quote(text)}; send them as one JSON object"
        )
    if not isinstance(decoded, dict):
        return text, f"must be a JSON object, not {_show(decoded)}"
    return decoded, None


def _quote(text: str, width: int = 200) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    short = text if len(text) <= 60 else text[:57] + "..."
    return f"{_json_type(value)} {short}"


def result_text(value: Any, limit: int = MAX_RESULT_CHARS) -> str:
    """A tool's return value as the text of the ``tool`` message.

    Strings go as they are, plain data as JSON (anything else inside it via
    ``str``), pydantic models and dataclasses as JSON, and everything else
    (DataFrames, arrays...) via ``str``, which is the form people read too.
    Cut to ``limit`` characters with a note of how much was left out.
    """
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float | list | tuple | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, enum.Enum):
        text = json.dumps(value.value, ensure_ascii=False, default=str)
    elif _is_pydantic(type(value)):
        text = value.model_dump_json()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        text = json.dumps(dataclasses.asdict(value), ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > limit:
        text = f"{text[:limit]}\n... [cut: {len(text) - limit:,} more characters]"
    return text


class Toolbox:
    """The tools one request allows, by name; the model can call nothing else."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self.tools:
                msg = f"Two tools are named {tool.name!r}; pass a dict to name them apart."
                raise GLMUsageError(msg)
            self.tools[tool.name] = tool

    @classmethod
    def of(
        cls, tools: Callable[..., Any] | Sequence[Callable[..., Any]] | Mapping[str, Any]
    ) -> Toolbox:
        """From a list of callables (named by ``__name__``) or a ``{name: callable}`` dict."""
        if isinstance(tools, Mapping):
            return cls(make_tool(func, name) for name, func in tools.items())
        if callable(tools):
            return cls([make_tool(tools)])
        return cls(make_tool(func) for func in tools)

    def __repr__(self) -> str:
        return f"<Toolbox {', '.join(self.tools)}>"

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self.tools.values()]

    def call(self, call_id: str, name: str, arguments: str) -> ToolCall:
        """Run one call the model asked for; failures become error text, never exceptions.

        ``KeyboardInterrupt`` is the exception: the user stopping the kernel
        stops the whole run.
        """
        started = time.monotonic()
        parsed, problem = _parse_arguments(arguments)
        text = ""
        tool = self.tools.get(name)
        if tool is None:
            error = f"there is no tool named {name!r}; the tools are: {', '.join(self.tools)}"
        elif problem is not None or not isinstance(parsed, dict):
            error = f"the arguments for {name} {problem}"
        else:
            error, text = self._run(tool, parsed)
        return ToolCall(
            id=call_id,
            name=name,
            arguments=parsed,
            result=f"Error: {error}" if error else text,
            error=error,
            seconds=time.monotonic() - started,
        )

    def _run(self, tool: Tool, arguments: dict[str, Any]) -> tuple[str | None, str]:
        try:
            args, kwargs = tool.bind(arguments)
        except ArgumentError as exc:
            return f"wrong arguments for {tool.name}: {exc}", ""
        try:
            value = tool.func(*args, **kwargs)
        except Exception as exc:
            return f"{tool.name} raised {type(exc).__name__}: {exc}", ""
        return None, result_text(value)
