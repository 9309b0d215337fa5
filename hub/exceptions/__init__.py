"""Exceptions and flows: rules, the evaluator, exception lifecycle, alerts and notifications."""
