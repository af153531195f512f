"""Application resources (icon, style sheet, desktop integration files).

Installed inside the package as `imgrag_desktop.resources` (see pyproject's package-dir), so
the app finds them with importlib.resources wherever it is installed or bundled.
"""
