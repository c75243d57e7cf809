"""Theme files (TOML) turned into `textual.theme.Theme`: bundled ones first, then the user's own.

Bundled themes live in the top-level `themes/` folder of a source checkout and in
`gemtui/_bundled_themes` inside the wheel (pyproject force-includes it); both are looked for, so an
editable install and a wheel behave the same. A user file with a bundled name overrides it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.theme import Theme

from gemtui import paths

DEFAULT_DARK = "gemtui-dark"
DEFAULT_LIGHT = "gemtui-light"
_COLOR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


@dataclass
class ThemeProblem:
    path: Path
    message: str


_UNSHOWABLE_NAME = re.compile(r"[\[\]\x00-\x1f\x7f-\x9f]")


def bundled_dirs() -> list[Path]:
    """Where bundled themes may be: inside the installed package, or the repo's `themes/`."""
    package = Path(__file__).resolve().parent.parent  # gemtui/
    candidates = [package / "_bundled_themes", package.parent / "themes"]
    return [d for d in candidates if d.is_dir()]


def user_dir() -> Path:
    return paths.config_dir() / "themes"


def parse_theme(path: Path) -> Theme:
    """One TOML file → Theme; raises ValueError with a one-line reason."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    colors = data.get("colors", {})
    if not isinstance(colors, dict) or "primary" not in colors:
        raise ValueError(f"{path.name}: needs a [colors] table with at least `primary`")
    variables = data.get("variables", {})
    name = str(data.get("name") or path.stem)
    if _UNSHOWABLE_NAME.search(name):
        # Textual's own theme list in the palette (Ctrl+P) parses a theme's name as markup.
        raise ValueError(f"{path.name}: a theme name may not contain [, ] or control characters")
    try:
        return Theme(
            name=name,
            dark=bool(data.get("dark", True)),
            variables={str(k): str(v) for k, v in variables.items()} if isinstance(variables, dict) else {},
            **{k: str(v) for k, v in colors.items() if k in _COLOR_KEYS},
        )
    except Exception as exc:  # Textual validates colours lazily; keep a bad file from crashing start-up
        raise ValueError(f"{path.name}: {exc}") from None


def load_themes(extra_dirs: list[Path] | None = None) -> tuple[dict[str, Theme], list[ThemeProblem]]:
    """All themes by name (user files last, so they win) and the files that could not be read."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    dirs = bundled_dirs() + [user_dir()] + list(extra_dirs or [])
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = parse_theme(path)
            except ValueError as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            themes[theme.name] = theme
    return themes, problems
