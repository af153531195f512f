"""The folder watcher: events (what it reports, raw events → queued work), observer (watchdog),
roots (online/offline states), settle (when a file is complete), apply (queued work → index),
service (`WatchService`, the one worker thread that ties them together). No Qt here."""
