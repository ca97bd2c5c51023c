"""Provincial business windows and switches (CFG-2): reading them with defaults, and setting them."""

from backend.domain.settings.provincial import (
    REGISTRATION_WINDOWS,
    SETTINGS,
    ProvinceSettings,
    SettingSpec,
    load_province_settings,
)
from backend.domain.settings.service import UnknownSettingError, set_province_setting
from backend.domain.settings.windows import Window, describe_windows, parse_windows

__all__ = [
    "REGISTRATION_WINDOWS",
    "SETTINGS",
    "ProvinceSettings",
    "SettingSpec",
    "UnknownSettingError",
    "Window",
    "describe_windows",
    "load_province_settings",
    "parse_windows",
    "set_province_setting",
]
