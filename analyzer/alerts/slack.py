"""Slack incoming-webhook messages (Block Kit).

The message: a header (severity and type), a section with the title, a fields section (service,
endpoint, actor, owner/team, count, first/last seen), up to 8 evidence lines, a context line
(kind, alert id) and, when a console URL is configured, a link button. ``text`` is the plain
fallback Slack shows in notifications.

Slack limits are enforced here so a long title cannot make Slack refuse the message: header text
150 characters, section text 3000, at most 10 fields of 2000 each, 50 blocks. Values from traffic
(paths, identities) are escaped for mrkdwn (``&``, ``<``, ``>``), so ``<!channel>`` in a path
cannot ping a channel or forge a link.
"""

from __future__ import annotations

from typing import Any

from analyzer.alerts.model import AlertEvent, Severity

EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.LOW: ":large_blue_circle:",
    Severity.INFO: ":white_circle:",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _clip(f"*{label}*\n{escape(value)}", 2000)}


def render(alert: AlertEvent, *, console_url: str | None = None) -> dict[str, Any]:
    severity = alert.severity.label.upper()
    header = _clip(f"{severity}: {alert.type_label.replace('_', ' ')}", 150)
    fields = [
        _field("Service", alert.service.host),
        _field("Endpoint", alert.endpoint.label()),
        _field("Severity", alert.severity.label),
        _field("Count", str(alert.count)),
        _field("First seen", alert.first_seen.strftime("%Y-%m-%d %H:%M:%S UTC")),
        _field("Last seen", alert.last_seen.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    if alert.actor is not None:
        fields.append(_field("Actor", alert.actor.label()))
    owner = " / ".join(p for p in (alert.service.owner, alert.service.team) if p)
    if owner:
        fields.append(_field("Owner / team", owner))
    if alert.pii_types:
        fields.append(_field("PII types", ", ".join(alert.pii_types)))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(f"{EMOJI[alert.severity]} {escape(alert.title)}", 3000)},
        },
        {"type": "section", "fields": fields[:10]},
    ]
    lines = [f"• `{escape(str(k))}`: {escape(str(v))}" for k, v in alert.evidence[:8]]
    if alert.digest is not None:
        lines = [f"• {escape(t)}" for t in alert.digest.sample_titles] + [
            f"• {n} × {escape(t)}" for t, n in alert.digest.by_type
        ]
    if alert.before is not None or alert.after is not None:
        before = ", ".join(f"{k}={v}" for k, v in alert.before or ()) or "—"
        after = ", ".join(f"{k}={v}" for k, v in alert.after or ()) or "—"
        lines += [f"• before: {escape(before)}", f"• after: {escape(after)}"]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}})
    if alert.remediation:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(f"*Fix:* {escape(alert.remediation)}", 3000)},
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _clip(escape(f"APICensus {alert.kind.value} · {alert.source_id}"), 2000),
                }
            ],
        }
    )
    link = alert.url or console_url
    if link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in APICensus"},
                        "url": link[:3000],
                    }
                ],
            }
        )
    text = _clip(f"[{severity}] {alert.title} ({alert.service.host})", 3000)
    return {"text": escape(text), "blocks": blocks[:50]}
