"""Golden records after a batch: survivorship per changed user, lineage rows and user events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mds.domain.audit import AuditEntry
from mds.domain.events import UserEvent, UserEventType
from mds.domain.profile import Profile
from mds.domain.survivorship import Contribution, Winner, survive
from mds.security.keyring import Keyring
from mds.services.resolution.config import ResolutionConfig
from mds.services.resolution.resolver import normalize_raw
from mds.services.resolution.workspace import Workspace
from mds.store.lineage import LineageEntry
from mds.store.models import LIVE_STATUSES


@dataclass
class SurvivalResult:
    profiles: list[tuple[uuid.UUID, Profile]] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    lineage: list[LineageEntry] = field(default_factory=list)
    events: list[UserEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)


def value_digest(keyring: Keyring, attribute: str, value: Any) -> bytes:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return keyring.blind_index(f"lineage:{attribute}", canonical)


def public_profile(
    user_id: uuid.UUID, status: str, version: int, profile: Profile
) -> dict[str, Any]:
    return {"user_id": str(user_id), "status": status, "version": version, **profile.as_dict()}


def _contributions(
    ws: Workspace, user_id: uuid.UUID, config: ResolutionConfig
) -> list[Contribution]:
    contributions = []
    for member in ws.member_rows(user_id):
        normalized = ws.normalized.get(member.id)
        if normalized is None:
            normalized = normalize_raw(member.raw, config, ws.now.date())
            ws.normalized[member.id] = normalized
        for attribute, value in normalized.golden_values().items():
            held = member.times.get(attribute, {})
            observed = datetime.fromisoformat(held["at"]) if "at" in held else ws.now
            contributions.append(
                Contribution(
                    member.id, member.source_system, attribute, value, observed, held.get("signal")
                )
            )
    return contributions


@dataclass
class CurrentLineage:
    """The current lineage rows of the users being re-survived, indexed by user."""

    rows: dict[tuple[uuid.UUID, str], tuple[int, LineageEntry]]
    by_user: dict[uuid.UUID, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for user_id, attribute in self.rows:
            self.by_user.setdefault(user_id, []).append(attribute)


def _lineage_changes(
    keyring: Keyring,
    user_id: uuid.UUID,
    winners: dict[str, Winner],
    current: CurrentLineage,
    result: SurvivalResult,
) -> list[str]:
    """Record new lineage rows (superseding old ones); return the attributes whose value moved."""
    changed: list[str] = []
    attributes = set(current.by_user.get(user_id, ())) | set(winners)
    for attribute in sorted(attributes):
        old = current.rows.get((user_id, attribute))
        winner = winners.get(attribute)
        if winner is None:
            if old is not None:
                result.superseded.append(old[0])
                changed.append(attribute)
            continue
        c = winner.contribution
        assert isinstance(c.source_identity, uuid.UUID)
        digest = value_digest(keyring, attribute, c.value)
        entry = LineageEntry(
            user_id, attribute, c.source_identity, c.signal_id, digest, winner.rule, c.observed_at
        )
        if old is not None and old[1] == entry:
            continue
        if old is not None:
            result.superseded.append(old[0])
        if old is None or old[1].value_digest != digest:
            changed.append(attribute)
        result.lineage.append(entry)
    return changed


def survive_users(
    ws: Workspace,
    keyring: Keyring,
    config: ResolutionConfig,
    current: dict[tuple[uuid.UUID, str], tuple[int, LineageEntry]],
    actor: str,
) -> SurvivalResult:
    result = SurvivalResult()
    indexed = CurrentLineage(current)
    absorbed: dict[uuid.UUID, list[str]] = {}
    for merge in ws.merges:
        absorbed.setdefault(merge.survivor_id, []).append(str(merge.merged_id))

    for user_id in sorted(ws.resurvive):
        user = ws.users[user_id]
        if user.status == "merged":
            _merged_away(ws, result, user_id, actor)
            continue
        if user.status not in LIVE_STATUSES:
            continue
        contributions = _contributions(ws, user_id, config)
        winners = survive(contributions, config.rules)
        profile = Profile(**{attr: w.contribution.value for attr, w in winners.items()})
        changed = _lineage_changes(keyring, user_id, winners, indexed, result)
        is_new = user_id in ws.new_users
        merged_ids = absorbed.get(user_id, [])
        if not contributions and not is_new:
            _erase_user(ws, result, user_id, actor)
            continue
        announced = ws.announce.get(user_id)
        if not (is_new or changed or merged_ids or announced):
            continue
        if not is_new:
            user.version += 1
            ws.dirty_users.add(user_id)
        result.profiles.append((user_id, profile))
        if announced is not None:
            event_type, related = announced
        elif merged_ids:
            event_type, related = UserEventType.MERGED, {"merged_user_ids": merged_ids}
        else:
            event_type = UserEventType.CREATED if is_new else UserEventType.UPDATED
            related = {}
        result.events.append(
            UserEvent(
                event_type,
                user_id,
                user.version,
                ws.now,
                public_profile(user_id, user.status, user.version, profile),
                tuple(changed),
                related,
            )
        )
        if announced is not None or not merged_ids:
            # The trail names the attributes that moved, never their values.
            details = {"version": user.version, "changed": changed, **related}
            action = str(event_type)
            result.audit.append(AuditEntry(actor, action, "user", str(user_id), details))
    return result


def _merged_away(ws: Workspace, result: SurvivalResult, user_id: uuid.UUID, actor: str) -> None:
    user = ws.users[user_id]
    user.version += 1
    ws.dirty_users.add(user_id)
    survivor = ws.survivor(user_id)
    result.events.append(
        UserEvent(
            UserEventType.MERGED,
            user_id,
            user.version,
            ws.now,
            public_profile(user_id, "merged", user.version, Profile()),
            (),
            {"merged_into": str(survivor)},
        )
    )
    result.audit.append(
        AuditEntry(actor, "user.merged", "user", str(user_id), {"merged_into": str(survivor)})
    )


def _erase_user(ws: Workspace, result: SurvivalResult, user_id: uuid.UUID, actor: str) -> None:
    """The last source identity of a user was erased: nothing is left to say about them."""
    user = ws.users[user_id]
    user.status = "erased"
    user.version += 1
    ws.dirty_users.add(user_id)
    result.profiles.append((user_id, Profile()))
    result.events.append(
        UserEvent(
            UserEventType.ERASED,
            user_id,
            user.version,
            ws.now,
            public_profile(user_id, "erased", user.version, Profile()),
        )
    )
    result.audit.append(AuditEntry(actor, "user.erased", "user", str(user_id), {}))
