"""PayLink's tables, as typed SQLAlchemy 2 models."""

from shared.models.ledger import Account, Journal, Posting
from shared.models.purchases import Purchase, StatusChange
from shared.models.reconciliation import ReconciliationFinding, ReconciliationRun
from shared.models.records import AuditEntry, IdempotencyKey, VTPassCallback
from shared.models.users import RefreshToken, User
from shared.models.vtpass_float import FloatReading
from shared.models.webhooks import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "AuditEntry",
    "Event",
    "FloatReading",
    "IdempotencyKey",
    "Journal",
    "Posting",
    "Purchase",
    "ReconciliationFinding",
    "ReconciliationRun",
    "RefreshToken",
    "StatusChange",
    "User",
    "VTPassCallback",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
