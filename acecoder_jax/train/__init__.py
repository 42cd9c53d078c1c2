"""Shared trainer pieces: optimizer and schedules, the jitted train step, metrics, loop."""
