"""What a process tells its operators: metrics, logs, and /healthz."""
