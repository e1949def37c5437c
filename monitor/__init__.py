"""Media monitor: poll news feeds, count mentions of a watchlist, show them in a dashboard."""

__version__ = "0.1.0"
