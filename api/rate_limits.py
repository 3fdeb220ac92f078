"""Route-level rate limits: a dependency that counts the call against its caller."""

from typing import Any

from fastapi import Depends

from api.deps import PrincipalDep, SessionDep, SettingsDep
from core.rate_limit import Rate, take


def per_caller(setting: str, *, what: str, bucket: str | None = None) -> Any:
    """Limit a route per device or account to ``settings.<setting>`` calls a minute
    (counted in ``bucket``, by default the setting's own)."""

    async def count(session: SessionDep, principal: PrincipalDep, settings: SettingsDep) -> None:
        caller = principal.user_id or principal.device_token_id
        rate = Rate(int(getattr(settings, setting)))
        await take(session, f"{bucket or setting}:{caller}", rate, what=what)

    return Depends(count)


LOCATIONS = per_caller("locations_per_min", what="location updates")
OFFER_ACTIONS = per_caller("offer_actions_per_min", what="accepts and declines")
POSITIONS = per_caller("positions_per_min", what="position updates")
CHECKINS = per_caller("positions_per_min", what="check-ins", bucket="checkins")
ACTIVITY = per_caller("positions_per_min", what="activity pings", bucket="activity")
