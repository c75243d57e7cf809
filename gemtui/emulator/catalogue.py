"""The models the emulator serves, in the wire shape of `GET /models/{model}`."""

from __future__ import annotations

from dataclasses import dataclass

GENERATE_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]


@dataclass(frozen=True)
class ModelInfo:
    name: str            # bare id, e.g. "gemini-2.5-pro"
    display_name: str
    family: str          # row of the limits table: pro, flash, flash-lite, flash-2.0, flash-image
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


MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("gemini-2.5-pro", "Gemini 2.5 Pro", "pro", 1_048_576, 65_536, "2.5"),
    ModelInfo("gemini-2.5-flash", "Gemini 2.5 Flash", "flash", 1_048_576, 65_536, "001"),
    ModelInfo("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "flash-lite", 1_048_576, 65_536, "001"),
    ModelInfo("gemini-2.5-flash-image", "Nano Banana (Gemini 2.5 Flash Image)", "flash-image",
              32_768, 32_768, "2.0", image_output=True, thinking=False),
    ModelInfo("gemini-2.0-flash", "Gemini 2.0 Flash", "flash-2.0", 1_048_576, 8_192, "2.0", thinking=False),
    ModelInfo("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "flash-2.0-lite", 1_048_576, 8_192, "2.0",
              thinking=False),
)

BY_NAME: dict[str, ModelInfo] = {m.name: m for m in MODELS}


def find(model: str) -> ModelInfo | None:
    """Accepts "gemini-2.5-pro" or "models/gemini-2.5-pro"."""
    return BY_NAME.get(model.removeprefix("models/"))
