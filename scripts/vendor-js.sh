#!/usr/bin/env bash
# Refreshes the JavaScript the console and portal embed: pinned npm packages,
# their licences, and a CHECKSUMS file (sha256) that a test checks against
# the files. Needs npm and network access; the build itself needs neither.
#   scripts/vendor-js.sh            fetch the pinned versions below
#   HTMX=2.0.12 scripts/vendor-js.sh  change a pin (then update this file)
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=${HTMX:-2.0.11}
UPLOT=${UPLOT:-1.6.32}
dest=internal/console/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "uplot@$UPLOT" >/dev/null)
mkdir -p "$work/htmx" "$work/uplot"
tar xzf "$work/htmx.org-$HTMX.tgz" -C "$work/htmx"
tar xzf "$work/uplot-$UPLOT.tgz" -C "$work/uplot"
rm -rf "$dest"
mkdir -p "$dest/htmx" "$dest/uplot"
cp "$work/htmx/package/dist/htmx.min.js" "$work/htmx/package/LICENSE" "$dest/htmx/"
cp "$work/uplot/package/dist/uPlot.iife.min.js" "$work/uplot/package/dist/uPlot.min.css" "$work/uplot/package/LICENSE" "$dest/uplot/"
printf 'htmx.org %s\nuplot %s\n' "$HTMX" "$UPLOT" >"$dest/VERSIONS"
(cd "$dest" && find . -type f ! -name CHECKSUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >CHECKSUMS)
cat "$dest/CHECKSUMS"
