"""Temperature units: the one definition of the unit letters, their symbols and the
conversions. Stored and compared in °C; shown as the patient read it, or in both scales."""

from typing import Literal

TemperatureUnit = Literal["C", "F"]
SYMBOLS: dict[TemperatureUnit, str] = {"C": "°C", "F": "°F"}
# What a thermometer can read from a living patient; outside it the report is refused (422).
PLAUSIBLE_CELSIUS = (30.0, 45.0)


def to_celsius(value: float, unit: TemperatureUnit) -> float:
    """As stored: three decimals, so 100.4 °F is 38.0 °C exactly and meets the fever threshold."""
    return round(value if unit == "C" else (value - 32.0) * 5.0 / 9.0, 3)


def fahrenheit(celsius: float) -> float:
    return celsius * 9.0 / 5.0 + 32.0


def temperature_text(celsius: float) -> str:
    """'38.6 °C (101.5 °F)': both scales, one decimal each."""
    return f"{celsius:.1f} {SYMBOLS['C']} ({fahrenheit(celsius):.1f} {SYMBOLS['F']})"
