"""The tables of DESIGN.md §3 as SQLAlchemy 2 typed mappings, one module per concept.

PII columns end in `_enc` and hold only AES-GCM ciphertext (see mds.security.envelope); values
that must be searchable are reachable only through HMAC blind indexes in `match_keys`.
Importing this package registers every table on `Base.metadata` (migrations and the drift
check compare against it).
"""

from mds.store.models.audit import AuditAnchor, AuditChain, AuditLog
from mds.store.models.base import (
    DUPLICATE_STATUSES,
    KEY_PURPOSES,
    KEY_STATES,
    LINK_KINDS,
    LIVE_STATUSES,
    NAMING_CONVENTION,
    RISKS,
    USER_STATUSES,
    Base,
    table_of,
)
from mds.store.models.identity import (
    AttributeLineage,
    CanonicalProfile,
    CanonicalUser,
    MatchKey,
    Signal,
    SourceIdentity,
)
from mds.store.models.keys import EncryptionKey
from mds.store.models.propagation import IngestError, Outbox
from mds.store.models.review import MatchModel, MergeEvent, PotentialDuplicate

__all__ = [
    "DUPLICATE_STATUSES",
    "KEY_PURPOSES",
    "KEY_STATES",
    "LINK_KINDS",
    "LIVE_STATUSES",
    "NAMING_CONVENTION",
    "RISKS",
    "USER_STATUSES",
    "AttributeLineage",
    "AuditAnchor",
    "AuditChain",
    "AuditLog",
    "Base",
    "CanonicalProfile",
    "CanonicalUser",
    "EncryptionKey",
    "IngestError",
    "MatchKey",
    "MatchModel",
    "MergeEvent",
    "Outbox",
    "PotentialDuplicate",
    "Signal",
    "SourceIdentity",
    "table_of",
]
