from typing import Literal, get_args

EventType = Literal[
    "alert.created",
    "alert.severity_raised",
    "alert.escalated",
    "alert.acknowledged",
    "alert.resolved",
    "checkin.missed",
    "webhook_endpoint.disabled",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
