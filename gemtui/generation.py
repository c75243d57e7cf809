"""Generation settings of a conversation (temperature, top_p, max_output, thinking_budget): their ranges,
the rules a model adds, and the one frozen value that carries them to the request.

It sits beneath chat/ (which stores them per conversation), gemini/ (which puts them in the request's
generation config) and config.py (which reads the `[generation]` defaults), so all three check a value
against the same ranges and say the same one line when it is refused.

Thinking budgets follow Google's published rules for the 2.5 family, applied by family name (Gemini 3
models take a budget too): Pro thinks always (-1 dynamic, or 128–32,768), Flash may be turned off
(-1, or 0–24,576), Flash-Lite may be turned off or given at least 512 (-1, 0, or 512–24,576). Models that
do not think (2.0, image models) take no budget. A value a model cannot take is refused when it is set for
that model; a stored value met by another model later (auto mode switched) is brought to the nearest value
that model takes (`for_model`), so the server never sees a budget it refuses.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields, replace

NAMES = ("temperature", "top_p", "max_output", "thinking_budget")
DYNAMIC = -1  # thinking_budget: the model decides how long to think


class SettingError(ValueError):
    """A value that is not allowed; the message is one line naming the setting and what is allowed."""


@dataclass(frozen=True)
class ThinkingRule:
    """What one family of models takes as a thinking budget."""

    low: int  # the least positive budget
    high: int
    can_turn_off: bool

    def allowed(self) -> str:
        off = ", 0 (off)" if self.can_turn_off else ""
        return f"-1 (dynamic){off} or {self.low:,}–{self.high:,}"

    def takes(self, value: int) -> bool:
        return value == DYNAMIC or (value == 0 and self.can_turn_off) or self.low <= value <= self.high

    def nearest(self, value: int) -> int:
        if self.takes(value):
            return value
        if value == 0:
            return self.low  # cannot turn off: its least thinking
        return min(max(value, self.low), self.high)


PRO_THINKING = ThinkingRule(128, 32_768, can_turn_off=False)
FLASH_THINKING = ThinkingRule(1, 24_576, can_turn_off=True)
LITE_THINKING = ThinkingRule(512, 24_576, can_turn_off=True)
ANY_THINKING = ThinkingRule(1, 32_768, can_turn_off=True)  # a model whose family we cannot tell

# Output token limits the models state (`outputTokenLimit`); a model not listed is not capped here.
OUTPUT_LIMITS = {
    "gemini-2.5-pro": 65_536,
    "gemini-2.5-flash": 65_536,
    "gemini-2.5-flash-lite": 65_536,
    "gemini-2.0-flash": 8_192,
    "gemini-2.0-flash-lite": 8_192,
    "gemini-2.5-flash-image": 32_768,
}
LARGEST_OUTPUT = 65_536  # the output limit of a Gemini model this table does not list (2.5 and 3 families)


def thinking_rule(model: str) -> ThinkingRule | None:
    """The thinking rule of `model` by its name; None for a model that does not think."""
    name = model.lower().removeprefix("models/")
    if "image" in name or name.startswith(("gemini-2.0", "gemini-1.")):
        return None
    if "flash-lite" in name:
        return LITE_THINKING
    if "flash" in name:
        return FLASH_THINKING
    if "pro" in name:
        return PRO_THINKING
    return ANY_THINKING


def output_limit(model: str) -> int | None:
    name = model.lower().removeprefix("models/")
    if name in OUTPUT_LIMITS:
        return OUTPUT_LIMITS[name]
    return LARGEST_OUTPUT if name.startswith("gemini-") else None


@dataclass(frozen=True)
class GenerationSettings:
    """What a request asks of generation; None = the model's own default (nothing sent)."""

    temperature: float | None = None
    top_p: float | None = None
    max_output: int | None = None
    thinking_budget: int | None = None

    def canonical(self) -> dict[str, float | int]:
        """The values set, by name in a fixed order: for storing, comparing and cache keys."""
        return {name: getattr(self, name) for name in NAMES if getattr(self, name) is not None}

    def to_json(self) -> str | None:
        values = self.canonical()
        return json.dumps(values, sort_keys=True) if values else None

    @classmethod
    def from_json(cls, text: str | None) -> GenerationSettings:
        """Stored settings; a value that no longer passes the ranges is dropped (its default used)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        kept = {}
        for name in NAMES:
            if name in data:
                try:
                    kept[name] = check(name, data[name])
                except SettingError:
                    continue
        return cls(**kept)

    def over(self, base: GenerationSettings) -> GenerationSettings:
        """These settings where set, `base`'s elsewhere (a conversation's over the config's defaults)."""
        return replace(base, **self.canonical())

    def with_value(self, name: str, value: float | int | None) -> GenerationSettings:
        if name not in NAMES:
            raise SettingError(f"no setting {name!r}; the settings are {', '.join(NAMES)}")
        return replace(self, **{name: value})

    def for_model(self, model: str) -> GenerationSettings:
        """What is sent to `model`: a thinking budget it cannot take brought to the nearest one it takes
        (none at all for a model that does not think), max_output capped at its output limit."""
        budget, most = self.thinking_budget, self.max_output
        if budget is not None:
            rule = thinking_rule(model)
            budget = None if rule is None else rule.nearest(budget)
        limit = output_limit(model)
        if most is not None and limit is not None:
            most = min(most, limit)
        return replace(self, thinking_budget=budget, max_output=most)

    def describe(self) -> str:
        values = self.canonical()
        return ", ".join(f"{k} {v}" for k, v in values.items()) if values else "model defaults"


DEFAULTS_SHOWN = {
    "temperature": "model default",
    "top_p": "model default",
    "max_output": "model default",
    "thinking_budget": "model default (dynamic on thinking models)",
}

RANGES = {
    "temperature": "a number from 0 to 2",
    "top_p": "a number from 0 to 1",
    "max_output": "a whole number of tokens from 1",
    "thinking_budget": "-1 (dynamic), 0 (off) or a whole number of tokens up to 32,768",
}


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingError(f"{name} {value!r} is not allowed: use {RANGES[name]}")
    return float(value)


def check(name: str, value: object) -> float | int:
    """`value` as the setting `name` holds it, or SettingError naming the allowed range in one line."""
    if name not in NAMES:
        raise SettingError(f"no setting {name!r}; the settings are {', '.join(NAMES)}")
    number = _number(name, value)
    if name == "temperature" and 0 <= number <= 2:
        return number
    if name == "top_p" and 0 <= number <= 1:
        return number
    if name in ("max_output", "thinking_budget") and not number.is_integer():
        raise SettingError(f"{name} {value!r} is not allowed: use {RANGES[name]}")
    if name == "max_output" and number >= 1:
        return int(number)
    if name == "thinking_budget" and (number == DYNAMIC or 0 <= number <= ANY_THINKING.high):
        return int(number)
    raise SettingError(f"{name} {value!r} is not allowed: use {RANGES[name]}")


def parse(name: str, text: str) -> float | int:
    """A typed value (`/set temperature 0.7`, `--temperature 0.7`) checked against its range."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    try:
        value: float | int = float(cleaned) if name in ("temperature", "top_p") else int(cleaned)
    except ValueError:
        raise SettingError(f"{name} {text.strip()!r} is not allowed: use {RANGES.get(name, 'a number')}") from None
    try:
        return check(name, value)
    except SettingError:  # said as it was typed
        raise SettingError(f"{name} {text.strip()} is not allowed: use {RANGES[name]}") from None


def check_for_model(name: str, value: float | int, model: str) -> None:
    """The rules `model` adds: its thinking budgets, its output limit. Raises SettingError in one line."""
    if name == "thinking_budget":
        rule = thinking_rule(model)
        if rule is None:
            raise SettingError(f"{model} does not think: leave thinking_budget at default")
        if not rule.takes(int(value)):
            off = "" if rule.can_turn_off else f" ({model} cannot turn thinking off)"
            raise SettingError(f"thinking_budget {value} is not allowed for {model}{off}: use {rule.allowed()}")
    elif name == "max_output":
        limit = output_limit(model)
        if limit is not None and value > limit:
            raise SettingError(f"max_output {value:,} is not allowed for {model}: use 1–{limit:,} (its output limit)")


def settings_from(values: dict[str, object]) -> GenerationSettings:
    """Checked values by name (the `[generation]` table, `ask` flags): SettingError on the first bad one."""
    known = {f.name for f in fields(GenerationSettings)}
    kept = {}
    for name, value in values.items():
        if name not in known:
            raise SettingError(f"no setting {name!r}; the settings are {', '.join(NAMES)}")
        if value is not None:
            kept[name] = check(name, value)
    return GenerationSettings(**kept)


def check_for_route(name: str, value: float | int, models: list[str] | tuple[str, ...]) -> str:
    """Check `value` for the models a request may go to. One model (forced): its rules refuse it. Several
    (auto): the value stands, and the returned note names each model that adapts it (`for_model`)."""
    if len(models) == 1:
        check_for_model(name, value, models[0])
        return ""
    asked = GenerationSettings().with_value(name, value)
    adapted = []
    for model in models:
        sent = getattr(asked.for_model(model), name)
        if sent != value:
            adapted.append(f"{model} gets {sent if sent is not None else 'none'}")
    return f"{name} {value} is adapted where a model cannot take it: {'; '.join(adapted)}" if adapted else ""
