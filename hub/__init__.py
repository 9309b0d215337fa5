"""crosstrace hub: the core that turns deliveries into events, transactions and exceptions."""

__all__: list[str] = []
