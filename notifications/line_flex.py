"""The LINE message a family contact receives: a Flex bubble with the elder's name, what
happened, the zone and a map link, and its alt text (the notification's preview, and
all that old LINE clients show) in the elder's language, Thai or English.

Built when the message is queued and stored with the outbox row, as plain JSON in
LINE's own shape (``{"type": "flex", "altText": ..., "contents": {...}}``); the LINE
channel hands it to the SDK (``FlexMessage.from_dict``), which checks it.
"""

from dataclasses import dataclass
from typing import Any

from notifications.texts import TEXTS, render

# LINE shows at most 400 characters of alt text in a notification.
MAX_ALT_TEXT = 400
# The header's colour by template: red while help is being found, then calmer.
COLOURS = {
    "family_sos_opened": "#C62828",
    "wander_family": "#C62828",
    "help_coming_family": "#EF6C00",
    "family_arrived": "#1565C0",
    "family_resolved": "#2E7D32",
    "family_cancelled": "#616161",
    "family_handed_1669": "#6A1B9A",
}
DEFAULT_COLOUR = "#C62828"


@dataclass(frozen=True)
class FamilyCard:
    elder: str
    template: str
    text: str  # what happened, already rendered in ``language``
    language: str
    zone: str | None
    lat: float | None
    lon: float | None


def map_link(lat: float, lon: float) -> str:
    """A link any phone opens in its maps app (Google Maps' universal URL)."""
    return f"https://www.google.com/maps/search/?api=1&query={lat:.6f},{lon:.6f}"


def flex_message(card: FamilyCard) -> dict[str, Any]:
    title_key = f"{card.template}_title"
    title = render(title_key, card.language) if title_key in TEXTS else "พิกัด Phikat"
    body: list[dict[str, Any]] = [
        {"type": "text", "text": card.elder, "weight": "bold", "size": "xl", "wrap": True},
        {"type": "text", "text": card.text, "wrap": True, "size": "md"},
        {
            "type": "box",
            "layout": "baseline",
            "spacing": "sm",
            "contents": [
                {
                    "type": "text",
                    "text": render("line_label_zone", card.language),
                    "color": "#888888",
                    "size": "sm",
                    "flex": 2,
                },
                {"type": "text", "text": card.zone or "-", "size": "sm", "flex": 5, "wrap": True},
            ],
        },
    ]
    bubble: dict[str, Any] = {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "backgroundColor": COLOURS.get(card.template, DEFAULT_COLOUR),
            "contents": [
                {
                    "type": "text",
                    "text": title,
                    "weight": "bold",
                    "color": "#FFFFFF",
                    "size": "lg",
                    "wrap": True,
                }
            ],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "md", "contents": body},
    }
    if card.lat is not None and card.lon is not None:
        bubble["footer"] = {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "action": {
                        "type": "uri",
                        "label": render("line_label_map", card.language),
                        "uri": map_link(card.lat, card.lon),
                    },
                }
            ],
        }
    return {"type": "flex", "altText": card.text[:MAX_ALT_TEXT], "contents": bubble}
