"""Prometheus metrics, in a registry of the process's own (no global registry).

One `Metrics` object is built with the services and passed to whatever counts
something; `/metrics` renders its registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

PREFIX = "cflow_bot"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.poll_seconds = Histogram(
            f"{PREFIX}_poll_cycle_seconds",
            "Duration of one poll cycle",
            registry=reg,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.requests_seen = Gauge(
            f"{PREFIX}_requests_seen", "Requests listed in the last cycle", registry=reg
        )
        self.requests_pending = Gauge(
            f"{PREFIX}_requests_pending", "Pending requests in the last cycle", registry=reg
        )
        self.cards_posted = Counter(
            f"{PREFIX}_cards_posted", "Cards posted to Slack", ["kind"], registry=reg
        )
        self.digests = Counter(
            f"{PREFIX}_digests",
            "Scheduled digests: sent (or refused by Slack for good), or left to try again",
            ["outcome"],
            registry=reg,
        )
        self.hook_calls = Counter(
            f"{PREFIX}_hook_calls",
            "Calls of POST /cflow/hook: accepted, refused, limited, malformed",
            ["outcome"],
            registry=reg,
        )
        self.hook_refreshes = Counter(
            f"{PREFIX}_hook_refreshes",
            "Workflows read between cycles on a hook's hint",
            registry=reg,
        )
        self.followups = Counter(
            f"{PREFIX}_followups",
            "Follow-ups done, by kind and how: reminders (dm, thread), escalations (thread), "
            "hand-overs (handed)",
            ["kind", "how"],
            registry=reg,
        )
        self.cards_updated = Counter(
            f"{PREFIX}_cards_updated", "Cards updated in Slack", registry=reg
        )
        self.actions = Counter(
            f"{PREFIX}_actions", "Decisions asked for in Slack", ["action", "outcome"], registry=reg
        )
        self.poller_failures = Counter(
            f"{PREFIX}_poller_failures",
            "Poller turns that failed (taking or renewing the lease, or a cycle)",
            ["stage", "error"],
            registry=reg,
        )
        self.slack_errors = Counter(
            f"{PREFIX}_slack_errors", "Slack Web API errors", ["error"], registry=reg
        )
        self.slack_rate_limited = Counter(
            f"{PREFIX}_slack_rate_limited",
            "Slack calls answered 429 (each is waited out and sent again)",
            ["method"],
            registry=reg,
        )
        self.slack_queue_depth = Gauge(
            f"{PREFIX}_slack_queue_depth",
            "Slack calls waiting for their turn within Slack's rate limits",
            ["rank"],
            registry=reg,
        )
        self.slack_wait_seconds = Histogram(
            f"{PREFIX}_slack_wait_seconds",
            "Time a Slack call waited for its turn within Slack's rate limits",
            ["rank"],
            registry=reg,
            buckets=(0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        )
        self.outbox_depth = Gauge(
            f"{PREFIX}_outbox_depth",
            "Changes recorded by the poller and not yet brought to Slack",
            registry=reg,
        )
        self.cflow_errors = Counter(
            f"{PREFIX}_cflow_errors", "Cflow call failures", ["kind"], registry=reg
        )
        self.ack_seconds = Histogram(
            f"{PREFIX}_ack_seconds",
            "Time from receiving a Slack request to answering it",
            registry=reg,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3),
        )
        self.workflow_steps = Counter(
            f"{PREFIX}_workflow_steps",
            "Workflow Builder steps: started, completed (decided), failed (told why), "
            "refused (Slack refused the step's token or execution for good), retry",
            ["outcome"],
            registry=reg,
        )
        self.workflow_step_refusals = Counter(
            f"{PREFIX}_workflow_step_refusals",
            "Steps Slack would not let the bot end, by Slack's reason (token_revoked …)",
            ["reason"],
            registry=reg,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
