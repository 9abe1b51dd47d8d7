"""What an alert is: a tier, a stable code the runbook lists, a one-line message and structured details."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

TIERS = ("critical", "warning", "info")
# The log level an alert is written at: error.log keeps warnings and above, and every alert.
LEVELS = {"critical": logging.CRITICAL, "warning": logging.WARNING, "info": logging.INFO}


@dataclass
class Alert:
    tier: str
    code: str
    message: str
    details: dict = field(default_factory=dict)
