"""Amounts and shares as a Chinese credit officer reads them.

>>> format_cny(123_456_789), format_cny(56_000), format_cny(25_400_000), format_cny(950), format_share(0.355)
('1.23亿', '5.6万', '2540万', '950', '35.5%')
"""

from __future__ import annotations

import math

__all__ = ["format_cny", "format_share"]


def format_cny(amount: float | None) -> str:
    """An amount in CNY with 万 (10⁴) or 亿 (10⁸), three significant digits."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "—"
    sign = "-" if amount < 0 else ""
    a = abs(float(amount))
    if a >= 1e8:
        v = a / 1e8
        return f"{sign}{v:.3g}亿" if v < 1000 else f"{sign}{v:,.0f}亿"
    if a >= 1e4:
        v = a / 1e4
        # 2540万, not 2.54e+03万: three significant digits only below a thousand.
        return f"{sign}{v:.3g}万" if v < 1000 else f"{sign}{v:.0f}万"
    return f"{sign}{a:.3g}" if a < 1000 else f"{sign}{a:.0f}"


def format_share(share: float | None) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "—"
    return f"{share * 100:.3g}%"
