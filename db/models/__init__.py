"""The tables: the directory (communities, people, categories, routing), cases, events, outbox.

Times are aware UTC datetimes (SQLModel stores and returns them so). Enumerated values are stored
as their string values so the database stays readable without the code. Importing this package
registers every table with SQLModel's metadata (migrations and ``create_all`` need them all).
"""

from db.models.audit import DataAudit
from db.models.cases import Case, CaseEvent, CaseFollower, CasePhoto
from db.models.directory import (
    Category,
    Community,
    CommunityStaff,
    Identity,
    Person,
    RoutingRule,
    Setting,
)
from db.models.open311 import Open311Key, Open311Post, Open311Request
from db.models.outbox import (
    EDITS_SQL,
    WAITING,
    WAITING_SQL,
    DeliveryReport,
    InboundReceipt,
    OptOut,
    OutboxMessage,
    OutboxStatus,
)
from db.models.providers import InboundCursor, ProviderToken, ReplyWindow
from db.models.rollup import RateRollup, RateRollupSpan
from db.models.sessions import ConsoleLogin, ConsoleSession, Draft, Invite

__all__ = [
    "EDITS_SQL",
    "WAITING",
    "WAITING_SQL",
    "Case",
    "CaseEvent",
    "CaseFollower",
    "CasePhoto",
    "Category",
    "Community",
    "CommunityStaff",
    "ConsoleLogin",
    "ConsoleSession",
    "DataAudit",
    "DeliveryReport",
    "Draft",
    "Identity",
    "InboundCursor",
    "InboundReceipt",
    "Invite",
    "Open311Key",
    "Open311Post",
    "Open311Request",
    "OptOut",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "ProviderToken",
    "RateRollup",
    "RateRollupSpan",
    "ReplyWindow",
    "RoutingRule",
    "Setting",
]
