"""Alerts: rollups per bucket and segment, the alert lifecycle, Slack delivery with an outbox.

``stage.detect_alerts`` and ``stage.deliver_notifications`` are what the pipeline calls;
``sentinel.detect`` holds the pure spike logic they use.
"""
