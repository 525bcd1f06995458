"""ORM tables, one module per table; importing this package registers them all on `Base.metadata`."""

from app.db.access_log import AccessLogEntry
from app.db.alert import Alert
from app.db.alert_delivery import AlertDelivery
from app.db.api_key import ApiKey
from app.db.appeal import Appeal
from app.db.base import Base
from app.db.conversation import Conversation
from app.db.finding import Finding
from app.db.job import Job
from app.db.keyword import Keyword
from app.db.review import Review
from app.db.rule_version import RuleVersion
from app.db.user import User
from app.db.user_session import UserSession
from app.db.utterance import Utterance
from app.db.worker import Worker

__all__ = [
    "AccessLogEntry",
    "Alert",
    "AlertDelivery",
    "ApiKey",
    "Appeal",
    "Base",
    "Conversation",
    "Finding",
    "Job",
    "Keyword",
    "Review",
    "RuleVersion",
    "User",
    "UserSession",
    "Utterance",
    "Worker",
]
