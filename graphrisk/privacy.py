"""Personal data in outputs: names masked, ID-number shaped values hidden.

>>> mask_personal("张三丰"), mask_personal("李四"), mask_personal("11010519491231002X")
('张*丰', '李*', '<ID number, 18 characters>')
"""

from __future__ import annotations

import re

__all__ = ["mask_personal"]

_RIC_SHAPE = re.compile(r"^[0-9]{17}[0-9Xx]$")


def mask_personal(value: str) -> str:
    """First and last character kept (张*三); a value shaped like a resident ID number is hidden whole."""
    if not value:
        return value
    if _RIC_SHAPE.match(re.sub(r"[\s\-]", "", value)):
        return f"<ID number, {len(value)} characters>"
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]
