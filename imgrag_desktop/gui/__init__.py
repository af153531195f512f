"""The desktop window. The only package that imports PySide6.

Widgets never call a model or the store: they emit requests that workers on QThreads carry
out through `imgrag_desktop.services.Services`, and answer with signals. Nothing here imports
torch, open_clip or lancedb at module level, so the window appears before the engine loads.
"""
