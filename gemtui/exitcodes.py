"""Exit statuses of headless gemtui, one per failure class, so scripts can tell them apart.

A CLI concept: only the CLI (cli.py, commands/) and the app's own return code use it. The layers below report
typed outcomes (a provider failure's `kind`); this module says which status each one ends a command with.
"""

EXIT_OK = 0
EXIT_ERROR = 1  # unexpected failure (reported in one line)
EXIT_USAGE = 2  # bad arguments, bad config file, bad endpoint URL
EXIT_AUTH = 3  # key missing, invalid or without permission
EXIT_NOT_FOUND = 4  # unknown model
EXIT_UNREACHABLE = 5  # endpoint unreachable, or it is not a Gemini API (an HTML page)
EXIT_QUOTA = 6  # refused by quota: can never fit, blocked for the day, or retries spent
EXIT_SERVER = 7  # the service failed (5xx), or the answer stream was cut
EXIT_NOT_SAVED = 8  # the answer was printed whole, but a store could not save it (a full disk)
EXIT_OUTPUT = 9  # the answer could not be written to stdout (a full disk under a redirect)
EXIT_DOCTOR = 10  # `gemtui doctor`: a check warned or failed
EXIT_LEDGER = 11  # the team ledger (Redis) is unreachable and [ledger] on_unreachable = "stop"
EXIT_INTERRUPTED = 130  # Ctrl-C

# A provider failure's kind (gemini.errors.FailureKind) -> the status a command ends with.
_FAILURE_STATUS = {
    "rate_limited": EXIT_QUOTA,
    "capacity": EXIT_QUOTA,
    "auth": EXIT_AUTH,
    "not_found": EXIT_NOT_FOUND,
    "bad_request": EXIT_USAGE,
    "server": EXIT_SERVER,
    "overloaded": EXIT_SERVER,
    "not_gemini": EXIT_UNREACHABLE,
    "unreachable": EXIT_UNREACHABLE,
    "stream_cut": EXIT_SERVER,
    "unknown": EXIT_ERROR,
}


def for_failure(kind: str | None) -> int:
    """The status for a failure of `kind`; a kind this table does not know is an unexpected error."""
    return _FAILURE_STATUS.get(kind or "unknown", EXIT_ERROR)


_DESCRIPTIONS = [
    (EXIT_OK, "success"),
    (EXIT_ERROR, "unexpected error"),
    (EXIT_USAGE, "bad arguments, config file or endpoint"),
    (EXIT_AUTH, "API key missing, invalid or not permitted"),
    (EXIT_NOT_FOUND, "unknown model"),
    (EXIT_UNREACHABLE, "endpoint unreachable or not a Gemini API"),
    (EXIT_QUOTA, "quota: request can never fit, model blocked for the day, or retries spent"),
    (EXIT_SERVER, "server error or answer stream cut (partial answer kept)"),
    (EXIT_NOT_SAVED, "answer printed whole, but it (or the quota ledger) could not be saved: disk full"),
    (EXIT_OUTPUT, "answer could not be written to stdout (disk full): the output is incomplete"),
    (EXIT_DOCTOR, "gemtui doctor: a check warned or failed"),
    (EXIT_LEDGER, 'team ledger unreachable and [ledger] on_unreachable = "stop"'),
    (EXIT_INTERRUPTED, "interrupted"),
]


def describe_exit_codes() -> str:
    lines = ["exit status:"] + [f"  {code:>3}  {text}" for code, text in _DESCRIPTIONS]
    return "\n".join(lines)
