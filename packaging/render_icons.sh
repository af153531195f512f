#!/usr/bin/env bash
# Render the application icon's PNG sizes from its SVG source. The PNGs are committed, so this
# only needs running after the SVG changes (`make icons`); it needs rsvg-convert (Debian:
# librsvg2-bin), whose rendering of gradients and clip paths is more faithful than ImageMagick's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
icons="$here/imgrag_desktop/resources/icons/hicolor"
app_id="io.github.imgrag.Desktop"
svg="$icons/scalable/apps/$app_id.svg"
if ! command -v rsvg-convert >/dev/null 2>&1; then
    echo "rsvg-convert not found: install librsvg2-bin (Debian/Ubuntu) or librsvg (Homebrew)" >&2
    exit 1
fi
for size in 16 24 32 48 64 128 256 512; do
    out="$icons/${size}x${size}/apps/$app_id.png"
    mkdir -p "$(dirname "$out")"
    rsvg-convert --width "$size" --height "$size" --keep-aspect-ratio "$svg" --output "$out"
    echo "$out"
done
