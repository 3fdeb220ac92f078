"""Which channels are on: chosen by the settings, the log channel where one is missing."""

import logging

from core.settings import Settings
from notifications.channels.base import Channel
from notifications.channels.fcm import FcmChannel
from notifications.channels.handoff import HandoffWebhookChannel
from notifications.channels.line import LineChannel
from notifications.channels.log import LogChannel
from notifications.channels.sms import SmsWebhookChannel
from notifications.sender import Channels

log = logging.getLogger("phikat")


def build_channels(settings: Settings) -> Channels:
    push: Channel
    sms: Channel
    if settings.fcm_credentials:
        push = FcmChannel(credentials_path=settings.fcm_credentials, endpoint=settings.fcm_endpoint)
    else:
        log.warning(
            "PHIKAT_FCM_CREDENTIALS is not set: push messages will be LOGGED, NOT SENT. "
            "Responders' phones will not be woken by push."
        )
        push = LogChannel("push")
    if settings.sms_webhook_url:
        auth = settings.sms_auth_header.get_secret_value() if settings.sms_auth_header else None
        sms = SmsWebhookChannel(
            url=settings.sms_webhook_url, template=settings.sms_template, auth_header=auth
        )
    else:
        log.warning(
            "PHIKAT_SMS_WEBHOOK_URL is not set: SMS (fallback offers, family "
            "messages) will be LOGGED, NOT SENT."
        )
        sms = LogChannel("sms")
    return Channels(
        push=push,
        sms=sms,
        handoff=HandoffWebhookChannel(),
        line=LineChannel(api_url=settings.line_api_url),
    )
