"""Exit statuses of headless gemtui, one per failure class, so scripts can tell them apart."""

EXIT_OK = 0
EXIT_ERROR = 1           # unexpected failure (reported in one line)
EXIT_USAGE = 2           # bad arguments, bad config file, bad endpoint URL
EXIT_AUTH = 3            # key missing, invalid or without permission
EXIT_NOT_FOUND = 4       # unknown model
EXIT_UNREACHABLE = 5     # endpoint unreachable, or it is not a Gemini API (an HTML page)
EXIT_QUOTA = 6           # refused by quota: can never fit, blocked for the day, or retries spent
EXIT_SERVER = 7          # the service failed (5xx), or the answer stream was cut
EXIT_INTERRUPTED = 130   # Ctrl-C

_DESCRIPTIONS = [
    (EXIT_OK, "success"),
    (EXIT_ERROR, "unexpected error"),
    (EXIT_USAGE, "bad arguments, config file or endpoint"),
    (EXIT_AUTH, "API key missing, invalid or not permitted"),
    (EXIT_NOT_FOUND, "unknown model"),
    (EXIT_UNREACHABLE, "endpoint unreachable or not a Gemini API"),
    (EXIT_QUOTA, "quota: request can never fit, model blocked for the day, or retries spent"),
    (EXIT_SERVER, "server error or answer stream cut (partial answer kept)"),
    (EXIT_INTERRUPTED, "interrupted"),
]


def describe_exit_codes() -> str:
    lines = ["exit status:"] + [f"  {code:>3}  {text}" for code, text in _DESCRIPTIONS]
    return "\n".join(lines)
