"""JSON and code answers: what to ask the model for, and what to make of its reply.

``--json`` sends ``response_format={"type": "json_object"}`` where the model
has JSON mode (the catalogue: glm-5 on DashScope has none, so there the
prompt alone asks for JSON). DashScope adds two rules to JSON mode, both
listed on its error-code page:

- a message must contain the word "json" ("'messages' must contain the word
  'json' in some form, to use 'response_format' of type 'json_object'."), so a
  prompt that does not mention JSON gets one line asking for it;
- JSON mode is refused while thinking is on ("Json mode response is not
  supported when enable_thinking is true"). That rule belongs to the
  provider (:mod:`glm_magic.providers.dashscope`): the request sends thinking
  off in JSON mode there, and says so. An explicit ``--thinking``
  (``thinking=True``) is sent as asked; if the provider refuses it, its
  message is shown like any other refusal.

``--schema NAME`` is JSON mode plus a schema: a pydantic (v2) model class or a
JSON-schema dict. The schema goes into the prompt, and the reply is validated
with pydantic, or with ``jsonschema`` for a dict (imported on first use).

After the reply, ``result.data`` holds the parsed value (the validated
instance with a pydantic model). A reply that is not JSON, or does not match
the schema, leaves ``data`` None and says why in ``result.error``, with
``result.error_code`` ``"invalid_json"`` or ``"schema_mismatch"`` (a batch
summary groups its failures by that code); the text stays in
``result.answer``, and ``finish_reason`` / ``complete`` stay as the stream
ended: the reply arrived whole, it just is not what was asked for.

``--code`` asks for Python in a fenced block; ``result.code`` is the first
Python (or unlabelled) block of the answer, or the whole answer when it is
Python without a fence. A reply with neither leaves ``code`` None, with
``result.error_code`` ``"no_code"``.
"""

from __future__ import annotations

import ast
import json
import re
from typing import TYPE_CHECKING, Any

from .errors import GLMUsageError

if TYPE_CHECKING:
    from .options import Options
    from .result import GLMResult

JSON_HINT = "Reply with a single JSON object and nothing else."
CODE_HINT = (
    "Reply with Python code in one ```python fenced block; keep any explanation short "
    "and outside the block."
)
FENCE = re.compile(
    r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+.-]*)[^\n]*\n(?P<body>.*?)"
    r"(?:^[ \t]*(?P=fence)[ \t]*$|\Z)",
    re.MULTILINE | re.DOTALL,
)
NO_CODE = "The reply has no Python code block; its text is in .answer."
PYTHON_LABELS = frozenset({"", "python", "py", "python3", "ipython", "ipython3"})
MAX_ERRORS = 3


def wants_json(options: Options) -> bool:
    return options.json or options.schema is not None


def check(options: Options) -> None:
    """Refuse option combinations and schemas that cannot work, before anything is sent."""
    if options.code and wants_json(options):
        msg = "--code asks for Python and --json/--schema for JSON: choose one."
        raise GLMUsageError(msg)
    schema = options.schema
    if schema is None or is_model(schema):
        return
    if not isinstance(schema, dict):
        msg = (
            f"--schema needs a pydantic model class or a JSON-schema dict; got "
            f"{type(schema).__name__}."
        )
        raise GLMUsageError(msg)
    validators = _jsonschema_validators()
    from jsonschema import SchemaError

    try:
        validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        msg = f"--schema is not a valid JSON schema: {exc.message}."
        raise GLMUsageError(msg) from None


def is_model(schema: Any) -> bool:
    """A pydantic v2 model class, recognised without importing pydantic."""
    return isinstance(schema, type) and all(
        callable(getattr(schema, name, None)) for name in ("model_json_schema", "model_validate")
    )


def instruct(prompt: str, options: Options, *, json_mode: bool = True) -> str:
    """The user message: the prompt, plus one line saying what shape of answer is wanted.

    With JSON mode (``response_format``), the line is added only where no
    message says "json" (the provider's condition); without it (a model that
    has none), the prompt is all that asks for JSON, so the line is always added.
    """
    parts = [prompt]
    if options.schema is not None:
        schema = options.schema.model_json_schema() if is_model(options.schema) else options.schema
        text = json.dumps(schema, indent=2, ensure_ascii=False)
        parts.append(f"Reply with a single JSON object that matches this JSON schema:\n{text}")
    elif options.json and (
        not json_mode or "json" not in f"{options.system or ''} {prompt}".lower()
    ):
        parts.append(JSON_HINT)
    if options.code:
        parts.append(CODE_HINT)
    return "\n\n".join(parts)


_NOTED: set[str] = set()


def once(note: str | None) -> str | None:
    """``note`` the first time this session, None afterwards.

    A note printed by a cell is saved with it: told once, it does not fill
    every JSON cell of a notebook with the same sentence.
    """
    if note is None or note in _NOTED:
        return None
    _NOTED.add(note)
    return note


def finish(result: GLMResult, options: Options) -> None:
    """Fill ``result.data`` / ``result.code`` from the answer, or say in ``error`` why not."""
    if options.code:
        result.code = first_code_block(result.answer)
        if result.code is None and result.complete:
            result.error, result.error_code = NO_CODE, "no_code"
    if not wants_json(options) or not result.complete:
        return
    try:
        value = parse_json(result.answer)
    except ValueError as exc:
        result.error, result.error_code = str(exc), "invalid_json"
        return
    try:
        result.data = validate(value, options.schema) if options.schema is not None else value
    except ValueError as exc:
        result.error, result.error_code = str(exc), "schema_mismatch"


def parse_json(text: str) -> Any:
    """The JSON value in ``text``: the whole text, a fenced block, or the first object in it."""
    if not text.strip():
        raise ValueError("The answer is empty, not JSON.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        first = exc
    candidates = [m["body"] for m in FENCE.finditer(text)]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    starts = [i for i in (text.find("{"), text.find("[")) if i != -1]
    if starts:
        try:
            return json.JSONDecoder().raw_decode(text, min(starts))[0]
        except json.JSONDecodeError:
            pass
    msg = (
        f"The answer is not valid JSON ({first.msg} at line {first.lineno}, column "
        f"{first.colno}); the text is in .answer."
    )
    raise ValueError(msg)


def validate(value: Any, schema: Any) -> Any:
    """``value`` checked against ``schema``: a model instance, or the value itself for a dict."""
    if is_model(schema):
        try:
            return schema.model_validate(value)
        except Exception as exc:
            problems = [
                f"{'.'.join(map(str, e.get('loc', ()))) or 'value'}: {e.get('msg', '')}"
                for e in _errors(exc)
            ]
            raise ValueError(_mismatch(schema.__name__, problems or [str(exc)])) from None
    validator = _jsonschema_validators().validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        name = schema.get("title") or "the schema"
        raise ValueError(_mismatch(name, [f"{e.json_path}: {e.message}" for e in errors]))
    return value


def _jsonschema_validators() -> Any:
    """``jsonschema.validators``: only a JSON-schema dict needs it (the ``schema`` extra)."""
    try:
        from jsonschema import validators
    except ImportError:
        msg = (
            "--schema with a JSON-schema dict needs the jsonschema package, which is not "
            "installed: pip install 'glm-magic[schema]'. A pydantic model class works "
            "without it."
        )
        raise GLMUsageError(msg) from None
    return validators


def _errors(exc: Exception) -> list[dict[str, Any]]:
    errors = getattr(exc, "errors", None)
    return list(errors()) if callable(errors) else []


def _mismatch(name: str, problems: list[str]) -> str:
    more = f" (and {len(problems) - MAX_ERRORS} more)" if len(problems) > MAX_ERRORS else ""
    return f"The JSON does not match {name}: {'; '.join(problems[:MAX_ERRORS])}{more}."


def first_code_block(text: str) -> str | None:
    """The first fenced block labelled Python (or not labelled at all), without its fences.

    A reply with no fence at all that is itself Python (and does more than
    name a value: a one-word answer parses too) is taken whole, since models
    asked for code sometimes leave the fence out.
    """
    for match in FENCE.finditer(text):
        if match["lang"].lower() in PYTHON_LABELS:
            return match["body"].rstrip("\n")
    if FENCE.search(text) or not text.strip():
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    bare = (ast.Name, ast.Constant)
    if all(isinstance(node, ast.Expr) and isinstance(node.value, bare) for node in tree.body):
        return None
    return text.strip("\n")
