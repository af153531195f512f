"""Scanning, the indexing pipeline and the folder watcher. No Qt here."""
