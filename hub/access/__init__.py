"""Access and privacy: API keys, sessions, the audit log, masking, erasure and retention."""
