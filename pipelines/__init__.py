"""The engine: pipeline model, durable store, runner, retries, scheduling and audit."""
