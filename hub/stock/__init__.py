"""Stock: positions from events, divergence between sources, and the ``[stock]`` settings."""
