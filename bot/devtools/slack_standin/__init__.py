"""Stand-ins for Slack: its Web API (with its limits and errors) and the payloads it sends.

Tests and the playground run the bot against these exactly as against Slack: real
sockets, signed requests, Slack's own shapes.
"""
