"""Correlation: which transaction each event belongs to, and events that name nothing."""
