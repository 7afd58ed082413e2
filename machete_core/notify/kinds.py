"""The notification types and the channel kinds (both fixed sets: stable names for filters)."""

from __future__ import annotations

#: Notification type -> when it is sent.
NOTICES: dict[str, str] = {
    "deploy.succeeded": "a deploy or install went live",
    "deploy.failed": "a deploy or install failed (the reason, redacted; the previous release "
    "keeps serving)",
    "rollback": "a tool was rolled back (or a rollback failed)",
    "tool.unhealthy": "a running tool failed its health check several times in a row",
    "tool.recovered": "a tool that was reported unhealthy passes its health check again",
    "operation.abandoned": "the process running an operation died; it was ended and undone",
    "webhook.bad_signature": "a push webhook delivery was refused: its signature was wrong",
    "token.expiring": "an API token expires soon",
    "test": "a test asked for with `machete notify test`",
}

#: Channel kind -> what its target is.
CHANNEL_KINDS: dict[str, str] = {
    "webhook": "an HTTPS URL, sent JSON signed per Standard Webhooks (webhook-id, "
    "webhook-timestamp, webhook-signature)",
    "slack": "a Slack (or Slack-compatible: Mattermost, Rocket.Chat) incoming-webhook URL",
    "discord": "a Discord incoming-webhook URL",
    "email": "an e-mail address (sent through MACHETE_SMTP_HOST)",
}

#: Seconds after a failed attempt before the next one; after the last, it has failed.
BACKOFF: tuple[float, ...] = (10, 30, 120, 600, 1800, 3600)
