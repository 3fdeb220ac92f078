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
    # The elder left a safe zone in its active hours (dispatch/wander).
    WANDER = "wander"
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


class OfferState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Outcome(enum.StrEnum):
    TREATED_ON_SCENE = "treated_on_scene"
    TRANSPORTED = "transported"
    FALSE_ALARM = "false_alarm"
    HANDED_TO_1669 = "handed_to_1669"


class DeadlineKind(enum.StrEnum):
    OFFER_EXPIRY = "offer_expiry"
    OFFICER_TIMEOUT = "officer_timeout"
    ARRIVAL = "arrival"
    # No delivery receipt for an offer in time: send it again by SMS.
    RECEIPT = "receipt"
    # An elder's check-in cycle (dispatch/checkins): remind, tell the family, escalate.
    CHECKIN_REMINDER = "checkin_reminder"
    CHECKIN_MISSED = "checkin_missed"
    CHECKIN_ESCALATE = "checkin_escalate"


class EscalationLevel(enum.IntEnum):
    RESPONDERS = 0
    OFFICERS = 1
    FALLBACK = 2


class AccessKind(enum.StrEnum):
    """What disclosed an elder's medical facts or contacts (the medical-access log)."""

    ELDER = "elder"  # GET /v1/elders/{id}
    ENROLMENT = "enrolment"  # the answer to enrolling the elder
    INCIDENT = "incident"  # an incident with its medical details (and escalation dossier)
    LIVE = "live"  # the escalation dossier sent on a live socket
    EXPORT = "export"  # everything held on the elder
    ERASURE = "erasure"  # not a read: who erased the record, and when
    HANDOFF = "handoff"  # the 1669 hand-off record sent, or its printable sheet viewed
