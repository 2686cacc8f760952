"""The local store: every run in one SQLite file, so nothing is lost with the kernel.

Why SQLite (the standard library's ``sqlite3``): one file, no server, safe
for several kernels at once. WAL mode lets readers and one writer work
together; each write is one short transaction, and a writer that finds the
file busy waits up to ``BUSY_TIMEOUT`` seconds, so concurrent kernels neither
corrupt the file nor lose rows. A run is written once, when it ends (nothing
per token), and ``synchronous=NORMAL`` makes the commit durable against a
crashed or killed kernel (the write-ahead log survives the process).

Where: ``$GLM_MAGIC_HOME``, else the platform's user data folder
(``$XDG_DATA_HOME`` or ``~/.local/share`` on Linux, ``~/Library/Application
Support`` on macOS, ``%LOCALAPPDATA%`` on Windows), in ``glm-magic/``. The
folder is made readable by its owner only, and so is the file: prompts hold
users' data. The API key is never written: nothing that reaches this module
holds it (errors are redacted before they reach a result).

The store must never stop a cell: when the folder is read-only or the disk is
full, the run goes on and one warning line says it was not logged.
``%config GLMMagics.log = False`` or ``GLM_MAGIC_LOG=0`` turns it off.

``PRAGMA user_version`` holds the schema version, so a later version can
migrate the file; a file from a newer version is left alone (not written).
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .request import Options, Request
    from .result import GLMResult
    from .settings import Settings

SCHEMA_VERSION = 2
FILE_NAME = "glm-magic.sqlite3"
BUSY_TIMEOUT = 30.0
#: Identifies this process's runs, for "this session" in ``%glm usage``.
SESSION = uuid.uuid4().hex

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    session TEXT,
    notebook TEXT,
    cell TEXT,
    provider TEXT,
    base_url TEXT,
    model TEXT,
    requested TEXT,
    options TEXT,
    messages TEXT,
    prompt TEXT,
    thinking TEXT,
    answer TEXT,
    added TEXT,
    tool_calls TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    reasoning_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    currency TEXT,
    time_to_first_token REAL,
    total_time REAL,
    retries INTEGER,
    finish_reason TEXT,
    complete INTEGER,
    error TEXT,
    error_code TEXT,
    request_id TEXT,
    cached INTEGER NOT NULL DEFAULT 0,
    cache_key TEXT,
    chat TEXT,
    chat_key TEXT,
    batch TEXT,
    item INTEGER
);
CREATE INDEX IF NOT EXISTS runs_time ON runs (time);
CREATE INDEX IF NOT EXISTS runs_cache ON runs (cache_key);
CREATE INDEX IF NOT EXISTS runs_batch ON runs (batch, item);
CREATE INDEX IF NOT EXISTS runs_chat ON runs (chat);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    name TEXT,
    time REAL NOT NULL,
    session TEXT,
    notebook TEXT,
    model TEXT,
    total INTEGER,
    prompts TEXT,
    definition BLOB
);
CREATE INDEX IF NOT EXISTS batches_name ON batches (name, time);
CREATE TABLE IF NOT EXISTS chat_resets (name TEXT PRIMARY KEY, time REAL NOT NULL);
"""

#: What brings a file of each older schema version up to the next one.
MIGRATIONS = {
    # 2: the model asked for, beside the id the stream named (``glm-5`` / ``glm-5-0401``).
    1: "ALTER TABLE runs ADD COLUMN requested TEXT;",
}

FTS = """
CREATE VIRTUAL TABLE IF NOT EXISTS runs_fts
    USING fts5(prompt, answer, content='runs', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS runs_fts_add AFTER INSERT ON runs BEGIN
    INSERT INTO runs_fts (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
CREATE TRIGGER IF NOT EXISTS runs_fts_drop AFTER DELETE ON runs BEGIN
    INSERT INTO runs_fts (runs_fts, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
END;
"""


def home() -> Path:
    """The store's folder: ``$GLM_MAGIC_HOME``, else the platform's user data folder."""
    configured = os.environ.get("GLM_MAGIC_HOME", "").strip()
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "glm-magic"


def store_file() -> Path:
    return home() / FILE_NAME


def switched_off() -> bool:
    """True when ``GLM_MAGIC_LOG`` says no (``0``, ``false``, ``no``, ``off``)."""
    return os.environ.get("GLM_MAGIC_LOG", "").strip().lower() in ("0", "false", "no", "off")


class StoreUnavailable(Exception):
    """The file cannot be opened or written; the message says why, in a few words."""


class Store:
    """One SQLite file, one connection per process (shared by threads under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fts = False
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                # Created owner-only before SQLite opens it; SQLite gives its -wal
                # and -shm files the same permissions as the database file.
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(_reason(exc)) from None
        self._conn = conn
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            msg = f"it was written by a newer glm-magic (schema {version}); upgrade to use it"
            raise StoreUnavailable(msg)
        if version == 0:
            conn.executescript(
                f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
            )
        elif version < SCHEMA_VERSION:
            self._upgrade(conn)
        try:
            conn.executescript(FTS)
            self.fts = True
        except sqlite3.OperationalError:
            self.fts = False  # an SQLite built without FTS5: search falls back to LIKE

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        """Bring an older file up to this schema; the version is read again under the
        write lock, so two kernels opening it at once migrate it once."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version, SCHEMA_VERSION):
                conn.execute(MIGRATIONS[step])
            conn.execute(f"PRAGMA user_version={max(version, SCHEMA_VERSION)}")
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one short statement or transaction; raises StoreUnavailable."""
        with self._lock:
            conn = self._connect()
            try:
                yield conn
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                raise StoreUnavailable(_reason(exc)) from None

    def insert(self, table: str, row: dict[str, Any]) -> int:
        names = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.connection() as conn:
            cursor = conn.execute(
                f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values())
            )
            return int(cursor.lastrowid or 0)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self.connection() as conn:
            return conn.execute(sql, params).rowcount

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()
_warned: set[str] = set()


def current() -> Store:
    """The store for the current ``GLM_MAGIC_HOME`` (one per path per process)."""
    path = store_file()
    with _stores_lock:
        if path not in _stores:
            _stores[path] = Store(path)
        return _stores[path]


def warn(reason: str, what: str = "this run is not logged") -> None:
    """One line on stderr, once per reason per process: the cell goes on."""
    line = f"glm: the store {current().path} cannot be used ({reason}); {what}."
    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# -- what a run looks like in the store ------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def options_record(options: Options) -> dict[str, Any]:
    """The options as plain JSON: tools by name, a schema as its dict or its class name."""
    record = {}
    for name, value in vars(options).items():
        if value is None or value is False:
            continue
        if name == "tools":
            value = sorted(value) if isinstance(value, dict) else [f.__name__ for f in value]
        elif name == "schema" and not isinstance(value, dict):
            value = getattr(value, "__name__", repr(value))
        record[name] = value
    return record


def notebook_path() -> str | None:
    """The notebook this kernel runs, when the front end says (JupyterLab, Notebook 7, VS Code).

    jupyter_server starts kernels with ``JPY_SESSION_NAME`` (the notebook's
    path), which ipykernel also puts in ``__session__``; VS Code sets
    ``__vsc_ipynb_file__``. nbclient, papermill and terminals give none.
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    ns = shell.user_ns if shell is not None else {}
    for name in ("__vsc_ipynb_file__", "__session__"):
        value = ns.get(name)
        if isinstance(value, str) and value:
            return value
    return os.environ.get("JPY_SESSION_NAME") or None


def record(
    result: GLMResult,
    request: Request,
    settings: Settings,
    tags: dict[str, Any] | None = None,
) -> None:
    """Write one finished run; never raises (a failure is one warning line)."""
    if not settings.log:
        return
    try:
        current().insert("runs", _row(result, request, settings, tags))
    except StoreUnavailable as exc:
        warn(str(exc))
    except Exception as exc:  # a surprise of ours must not cost the user the run
        warn(f"{type(exc).__name__}: {exc}")


def _row(
    result: GLMResult, request: Request, settings: Settings, tags: dict[str, Any] | None
) -> dict[str, Any]:
    from .cells import cell_runs

    u = result.usage
    return {
        "time": time.time(),
        "session": SESSION,
        "notebook": notebook_path(),
        "cell": cell_runs.cell_id,
        "provider": result.provider,
        "base_url": settings.base_url,
        "model": result.model,
        "requested": request.model,
        "options": _json(options_record(request.options)),
        "messages": _json(request.messages),
        "prompt": result.prompt,
        "thinking": result.thinking,
        "answer": result.answer,
        "added": _json(result.messages),
        "tool_calls": _json([asdict(call) for call in result.tool_calls]),
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "total_tokens": u.total_tokens,
        "cost": result.cost,
        "currency": result.currency,
        "time_to_first_token": result.time_to_first_token,
        "total_time": result.total_time,
        "retries": result.retries,
        "finish_reason": result.finish_reason,
        "complete": int(result.complete),
        "error": result.error,
        "error_code": result.error_code,
        "request_id": result.request_id,
        "cached": int(result.cached),
        "cache_key": cache_key(request, settings),
        **(tags or {}),
    }


def cache_key(request: Request, settings: Settings) -> str:
    """What makes two requests identical: endpoint, model, every parameter and message."""
    import hashlib

    identity = {"base_url": settings.base_url.rstrip("/"), "body": request.body()}
    text = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def cached(request: Request, settings: Settings) -> GLMResult | None:
    """The stored result of an identical request that completed, or None.

    Only a run that ended normally and without error is replayed; an
    incomplete, interrupted or failed one never is.
    """
    try:
        rows = current().rows(
            "SELECT * FROM runs WHERE cache_key = ? AND complete = 1 AND error IS NULL "
            "ORDER BY id DESC LIMIT 1",
            (cache_key(request, settings),),
        )
    except StoreUnavailable as exc:
        warn(str(exc), "--cache cannot look up earlier runs")
        return None
    return result_of(rows[0]) if rows else None


def result_of(row: sqlite3.Row) -> GLMResult:
    """A stored run as a result again (the values a view and ``structured`` need)."""
    from .events import ToolCall, Usage
    from .result import GLMResult

    return GLMResult(
        answer=row["answer"] or "",
        thinking=row["thinking"] or "",
        model=row["model"] or "",
        usage=Usage(
            row["prompt_tokens"] or 0,
            row["completion_tokens"] or 0,
            row["total_tokens"] or 0,
            row["reasoning_tokens"] or 0,
        ),
        finish_reason=row["finish_reason"] or "incomplete",
        complete=bool(row["complete"]),
        error=row["error"],
        error_code=row["error_code"],
        request_id=row["request_id"],
        time_to_first_token=row["time_to_first_token"],
        total_time=row["total_time"] or 0.0,
        retries=row["retries"] or 0,
        prompt=row["prompt"] or "",
        tool_calls=[ToolCall(**call) for call in json.loads(row["tool_calls"] or "[]")],
        messages=json.loads(row["added"] or "[]"),
        provider=row["provider"],
        cost=row["cost"],
        currency=row["currency"],
    )


# -- conversations -----------------------------------------------------------------------


def readable() -> Store | None:
    """The store when there is one to read (the file exists, GLM_MAGIC_LOG allows it)."""
    if switched_off():
        return None
    target = current()
    return target if target.path.exists() else None


def chat_runs(name: str | None = None) -> list[sqlite3.Row]:
    """The stored turns of chat ``name`` (of every chat when None) since its last reset,
    oldest first; empty when the store cannot be read."""
    target = readable()
    if target is None:
        return []
    where = "runs.chat IS NOT NULL" if name is None else "runs.chat = ?"
    try:
        return target.rows(
            "SELECT runs.* FROM runs LEFT JOIN chat_resets ON chat_resets.name = runs.chat "
            f"WHERE {where} AND (chat_resets.time IS NULL OR runs.time > chat_resets.time) "
            "ORDER BY runs.id",
            () if name is None else (name,),
        )
    except StoreUnavailable as exc:
        warn(str(exc), "stored conversations are not read")
        return []


def forget_chats(names: list[str]) -> None:
    """Mark chats reset, so their earlier stored turns are not restored."""
    target = readable()
    if target is None or not names:
        return
    now = time.time()
    try:
        for name in names:
            target.execute(
                "INSERT OR REPLACE INTO chat_resets (name, time) VALUES (?, ?)", (name, now)
            )
    except StoreUnavailable as exc:
        warn(str(exc), "the reset is not remembered after a restart")
