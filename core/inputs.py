"""The one base of every request body a client sends."""

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """Unknown fields are refused: a misspelt field is a 422 the client can fix, not a
    value silently left at its default."""

    model_config = ConfigDict(extra="forbid")
