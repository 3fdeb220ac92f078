"""HMAC-SHA256 signatures of webhook bodies, both ways between Phikat and a 1669 centre.

The signed string is ``{timestamp}.{body}``: the Unix time in seconds (the
``X-Phikat-Timestamp`` header), a dot, and the body's exact bytes. The signature is
``v1=`` and the lowercase hex HMAC-SHA256 of that string under the shared secret (the
``X-Phikat-Signature`` header). A receiver refuses a timestamp further than the replay
window from its own clock, and compares signatures in constant time.
"""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Phikat-Timestamp"
SIGNATURE_HEADER = "X-Phikat-Signature"
REPLAY_WINDOW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign ``body``."""
    timestamp = str(int(now if now is not None else time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signed: str | None,
    now: float | None = None,
    window_s: int = REPLAY_WINDOW_S,
) -> str | None:
    """None when the body is signed with ``secret`` within the window; else why not."""
    if not timestamp or not signed:
        return "missing signature headers"
    try:
        at = int(timestamp)
    except ValueError:
        return "malformed timestamp"
    if abs((now if now is not None else time.time()) - at) > window_s:
        return "timestamp outside the replay window"
    if not hmac.compare_digest(signature(secret, timestamp, body), signed):
        return "bad signature"
    return None
