"""The console logger of command-line runs (`make demo`, `make compare`): one short line per message.

Dagster's own console logger prints every event of a run (some 280 DEBUG lines for the demo) or,
at INFO, hides which step finished, which check failed and which steps a failed gate skipped.
This one, at its default INFO, prints the run's messages at INFO and above (the stages' progress:
"fold 3 of 16", "backtest 5/24 ridge x hrp", warnings and errors) and, of Dagster's own events, a
step's end, a failed or skipped check, a skipped step and the run's end. At DEBUG it prints every
event, as Dagster's logger does. The event log the UI shows keeps every event at any level.

A run uses it when its run config names it (the Makefile does):

    loggers: {console: {config: {log_level: INFO}}}
"""

import logging
import sys

import dagster as dg

# Dagster events shown below their DEBUG level (by name, as DagsterEventType values).
_STEP_SUCCESS = "STEP_SUCCESS"
_STEP_SKIPPED = "STEP_SKIPPED"
_CHECK = "ASSET_CHECK_EVALUATION"
_RUN_SUCCESS = "PIPELINE_SUCCESS"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def _event_line(record: logging.LogRecord) -> tuple[int, str] | None:
    """(level, text) of a Dagster event worth a line at INFO, or None."""
    meta = getattr(record, "dagster_meta", None) or {}
    event = meta.get("dagster_event")
    if event is None:
        return None
    kind = event.event_type_value
    data = event.event_specific_data
    if kind == _STEP_SUCCESS:
        return logging.INFO, f"done in {_duration(data.duration_ms / 1000)}"
    if kind == _STEP_SKIPPED:
        return logging.WARNING, "skipped (an upstream step failed or a blocking check did not pass)"
    if kind == _RUN_SUCCESS:
        return logging.INFO, "run finished"
    if kind == _CHECK and not data.passed:
        level = logging.ERROR if data.severity == dg.AssetCheckSeverity.ERROR else logging.WARNING
        what = f"check {data.check_name} on {data.asset_key.to_user_string()} failed"
        if data.blocking:
            what += " (blocking)"
        return level, what + (f": {data.description}" if data.description else "")
    return None


def _error(record: logging.LogRecord, full: bool) -> str:
    """The error an event carries (a step's failure): in full as Dagster prints it, or its root
    cause only -- the exception the step's own code raised, with its stack; a failure Dagster
    raised itself (a failed blocking check) by its message alone."""
    event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
    error = getattr(event.event_specific_data, "error", None) if event is not None else None
    if error is None:
        return ""
    if full:
        return "\n\n" + (getattr(event.event_specific_data, "error_display_string", None) or error.to_string())
    while error.cause is not None:
        error = error.cause
    if error.cls_name and error.cls_name.startswith("Dagster"):
        return ": " + error.message.strip()
    return "\n\n" + error.to_string().rstrip()


class _Console(logging.Filter):
    """Passes records at ``threshold`` and above, and the events of :func:`_event_line`, rewritten
    as one line: ``HH:MM:SS LEVEL step: message``."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        meta = getattr(record, "dagster_meta", None) or {}
        shown = _event_line(record) if record.levelno < logging.INFO or meta.get("dagster_event") else None
        if shown is not None and self.threshold <= logging.INFO:
            record.levelno, text = max(shown[0], record.levelno), shown[1]
            record.levelname = logging.getLevelName(record.levelno)
        elif record.levelno >= self.threshold:
            full = self.threshold < logging.INFO
            text = meta.get("orig_message", record.getMessage()) + _error(record, full)
        else:
            return False
        record.msg, record.args = text, ()
        record.where = meta.get("step_key") or meta.get("job_name") or "run"
        return True


@dg.logger(
    {"log_level": dg.Field(str, default_value="INFO", is_required=False,
                           description="INFO: progress, warnings, errors and each step's end; DEBUG: every event.")},
    description="One line per message: each step's progress and end, failed checks, warnings and errors.",
)
def console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    threshold = logging.getLevelName(str(init_context.logger_config["log_level"]).upper())
    if not isinstance(threshold, int):
        raise ValueError(f"log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                         f"got {init_context.logger_config['log_level']!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Console(threshold))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(where)s: %(message)s", "%H:%M:%S"))
    log = logging.Logger("tradepipe", level=logging.DEBUG)  # not registered: one per run, no global state
    log.addHandler(handler)
    return log
