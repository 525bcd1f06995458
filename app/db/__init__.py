"""ORM tables, one module per table; importing this package registers them all on `Base.metadata`."""

from app.db.access_log import AccessLogEntry
from app.db.api_key import ApiKey
from app.db.base import Base
from app.db.conversation import Conversation
from app.db.finding import Finding
from app.db.job import Job
from app.db.keyword import Keyword
from app.db.review import Review
from app.db.utterance import Utterance

__all__ = [
    "AccessLogEntry",
    "ApiKey",
    "Base",
    "Conversation",
    "Finding",
    "Job",
    "Keyword",
    "Review",
    "Utterance",
]
