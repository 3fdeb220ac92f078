"""Who is calling: the one object every authorization decision looks at."""

import enum
import uuid
from dataclasses import dataclass


class PrincipalKind(enum.StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    RESPONDER = "responder"
    ELDER_DEVICE = "elder_device"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    organization_id: uuid.UUID | None
    user_id: uuid.UUID | None = None
    elder_id: uuid.UUID | None = None
    device_token_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind is PrincipalKind.ADMIN

    def public(self) -> dict[str, str | None]:
        return {
            "kind": self.kind.value,
            "organization_id": str(self.organization_id) if self.organization_id else None,
            "user_id": str(self.user_id) if self.user_id else None,
            "elder_id": str(self.elder_id) if self.elder_id else None,
        }


@dataclass(frozen=True)
class StaffPrincipal(Principal):
    """Someone who signed in with an account (admin, officer, responder): the account's
    id is always there, so commands can name who did them without a check."""

    user_id: uuid.UUID
