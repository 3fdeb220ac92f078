import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from core.inputs import InputModel
from core.types import UtcDateTime
from notifications.models import Platform

FcmToken = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4096, pattern=r"^\S+$")
]


class DeviceCreate(InputModel):
    fcm_token: FcmToken
    platform: Platform


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform: Platform
    created_at: UtcDateTime
    updated_at: UtcDateTime
