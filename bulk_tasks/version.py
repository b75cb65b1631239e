"""The version of bulk_tasks, which its requests name in their User-Agent."""

__version__ = "0.1.0"
