"""Master Data Service: the canonical record of every Meetinity user and profile."""

__version__ = "0.1.0"
