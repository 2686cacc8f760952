"""Default settings, in one place: the ``%config`` traits, the Python API and the views read them.

Free of imports, so ``%load_ext`` reads it at no cost.
"""

TIMEOUT = 300.0
MAX_RETRIES = 3
RETRY_BACKOFF = 0.5
#: Text updates at most every 0.08 s: with the status line, under 20 messages per second.
UPDATE_INTERVAL = 0.08
#: The longest a streamed token waits before it is shown (freshness p95 under 100 ms).
MAX_DELAY = 0.08
MAX_TOOL_ROUNDS = 5
VALUE_BUDGET = 4000
#: A batch of more calls than this is refused before anything is sent (``--max-calls``).
MAX_CALLS = 1000
#: Items ``--dry-run --sample`` sends when no number is given.
SAMPLE = 3
