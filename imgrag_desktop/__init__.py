"""imgrag-desktop: offline search and question answering over your own images."""

__version__ = "0.1.0"
