import enum


class IncidentState(enum.StrEnum):
    DISPATCHING = "dispatching"
    ACCEPTED = "accepted"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


ACTIVE_STATES = (IncidentState.DISPATCHING, IncidentState.ACCEPTED, IncidentState.ON_SCENE)


class Trigger(enum.StrEnum):
    BUTTON = "button"
    FALL = "fall"
    CHECKIN_MISSED = "checkin_missed"
    # Opened by an officer or responder on the elder's behalf.
    STAFF = "staff"


class LocationSource(enum.StrEnum):
    GPS = "gps"
    HOME = "home"
    # Coordinates typed in by staff opening an incident on the elder's behalf.
    REPORTED = "reported"


class ResponderKind(enum.StrEnum):
    CAREGIVER = "caregiver"
    VOLUNTEER = "volunteer"
    CARE_MANAGER = "care_manager"
    RESCUE = "rescue"


class Language(enum.StrEnum):
    TH = "th"
    EN = "en"
