"""Ingest: the durable inbox, the normalizer, polling into the inbox, and the checks at the door."""
