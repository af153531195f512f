"""One module per group of `imgrag` commands."""
