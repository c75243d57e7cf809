"""The models the emulator can serve, in the wire shape of `GET /models/{model}`, and the lists it serves.

The default list keeps the 2.5 family as the newest of each family (what the demo and most tests expect of
`pro`, `flash` and `lite`); the "current" list serves today's names (Gemini 3 beside the 2.5 family); any
other list can be set by ids. An id the catalogue does not hold is served by the family its name implies.
"""

from __future__ import annotations

from dataclasses import dataclass

GENERATE_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]


@dataclass(frozen=True)
class ModelInfo:
    name: str  # bare id, e.g. "gemini-2.5-pro"
    display_name: str
    family: str  # row of the limits table: pro, flash, flash-lite, flash-2.0, flash-image
    input_limit: int
    output_limit: int
    version: str
    image_output: bool = False
    thinking: bool = True

    def wire(self) -> dict:
        return {
            "name": f"models/{self.name}",
            "version": self.version,
            "displayName": self.display_name,
            "description": f"{self.display_name} (served by the gemtui emulator)",
            "inputTokenLimit": self.input_limit,
            "outputTokenLimit": self.output_limit,
            "supportedGenerationMethods": list(GENERATE_METHODS),
            "temperature": 1.0,
            "topP": 0.95,
            "topK": 64,
            "maxTemperature": 2.0,
            "thinking": self.thinking,
        }


CATALOGUE: tuple[ModelInfo, ...] = (
    ModelInfo("gemini-2.5-pro", "Gemini 2.5 Pro", "pro", 1_048_576, 65_536, "2.5"),
    ModelInfo("gemini-2.5-flash", "Gemini 2.5 Flash", "flash", 1_048_576, 65_536, "001"),
    ModelInfo("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "flash-lite", 1_048_576, 65_536, "001"),
    ModelInfo(
        "gemini-2.5-flash-image",
        "Nano Banana (Gemini 2.5 Flash Image)",
        "flash-image",
        32_768,
        32_768,
        "2.0",
        image_output=True,
        thinking=False,
    ),
    ModelInfo("gemini-2.0-flash", "Gemini 2.0 Flash", "flash-2.0", 1_048_576, 8_192, "2.0", thinking=False),
    ModelInfo(
        "gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "flash-2.0-lite", 1_048_576, 8_192, "2.0", thinking=False
    ),
    ModelInfo("gemini-3-pro-preview", "Gemini 3 Pro Preview", "pro", 1_048_576, 65_536, "3-pro-preview"),
    ModelInfo("gemini-3-flash", "Gemini 3 Flash", "flash", 1_048_576, 65_536, "3-flash"),
    ModelInfo("gemini-3-flash-preview", "Gemini 3 Flash Preview", "flash", 1_048_576, 65_536, "3-flash-preview"),
)

BY_NAME: dict[str, ModelInfo] = {m.name: m for m in CATALOGUE}

DEFAULT_LIST: tuple[str, ...] = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-image",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
)
CURRENT_LIST: tuple[str, ...] = ("gemini-3-pro-preview", "gemini-3-flash", *DEFAULT_LIST)
PRESETS: dict[str, tuple[str, ...]] = {"default": DEFAULT_LIST, "current": CURRENT_LIST}

MODELS: tuple[ModelInfo, ...] = tuple(BY_NAME[name] for name in DEFAULT_LIST)


def family_of(name: str) -> str:
    """The limits row an id's name implies (used for ids the catalogue does not hold)."""
    lowered = name.lower()
    if "image" in lowered:
        return "flash-image"
    if "flash-lite" in lowered:
        return "flash-lite"
    if "flash" in lowered:
        return "flash"
    return "pro"


def info_for(name: str) -> ModelInfo:
    """The catalogue's entry for `name`, or one made for it from its family."""
    bare = name.strip().removeprefix("models/")
    if not bare or "/" in bare or any(c.isspace() for c in bare):
        raise ValueError(f"not a model id: {name!r}")
    known = BY_NAME.get(bare)
    if known is not None:
        return known
    family = family_of(bare)
    return ModelInfo(
        bare,
        bare,
        family,
        1_048_576,
        65_536,
        "001",
        image_output=family == "flash-image",
        thinking=family != "flash-image",
    )


def model_list(spec: str | tuple[str, ...] | list[str]) -> tuple[ModelInfo, ...]:
    """A preset name ("default", "current"), a comma-separated string of ids, or a sequence of ids."""
    if isinstance(spec, str):
        names = PRESETS.get(spec.strip().lower()) or tuple(n for n in spec.split(",") if n.strip())
    else:
        names = tuple(spec)
    if not names:
        raise ValueError("an empty model list")
    return tuple(dict.fromkeys(info_for(n) for n in names))


def find(model: str, served: tuple[ModelInfo, ...] = MODELS) -> ModelInfo | None:
    """Accepts "gemini-2.5-pro" or "models/gemini-2.5-pro"; None unless `served` lists it."""
    bare = model.removeprefix("models/")
    return next((m for m in served if m.name == bare), None)
