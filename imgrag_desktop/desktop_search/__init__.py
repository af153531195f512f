"""The desktop's own search box: a GNOME Shell search provider and a KRunner runner.

Typing in GNOME's overview or in KRunner (Plasma's Alt+Space) shows the library's photos
matching the text, as `imgrag search` finds them. One small D-Bus service (`imgrag
desktop-search run`, started by D-Bus on the first query) serves both desktops' interfaces:

- `provider.py`  what the desktop asks for, answered from a search callable (no D-Bus in it):
                 result sets, result metas (name, folder and date, thumbnail), activation
- `bus.py`       the D-Bus side (jeepney, pure Python): the session-bus name, the
                 `org.gnome.Shell.SearchProvider2` and `org.kde.krunner1` objects, introspection
- `files.py`     the activation files `imgrag desktop-search install` writes under the user's
                 XDG data dir, and removes again (only what it wrote)

The searching itself is the command line's (cli/commands/desktop_search.py): through the warm
socket of a running window or `imgrag watch` when one serves this data dir (warm.py), else on
the service's own engine, kept warm between queries and unloaded when idle (models/idle.py).
"""

from __future__ import annotations

BUS_NAME = "io.github.imgrag.Desktop.SearchProvider"
GNOME_PATH = "/io/github/imgrag/Desktop/SearchProvider"
KRUNNER_PATH = "/io/github/imgrag/Desktop/Runner"
GNOME_IFACE = "org.gnome.Shell.SearchProvider2"
KRUNNER_IFACE = "org.kde.krunner1"

MIN_CHARS = 3  # shorter queries answer nothing: "a", "ph" would list the whole library
MAX_RESULTS = 10
