#!/bin/sh
# Refresh the vendored xterm.js (web console) from the npm registry: `npm pack` of the pinned
# versions below, copy the files the page uses and their licences into web/vendor/, and write
# web/vendor/SHA256SUMS (checked by tests/share/web.rs). To move to a new version, change the
# versions here, run this script from the repository root, and commit web/vendor/.
set -eu
XTERM=6.0.0
FIT=0.11.0
cd "$(dirname "$0")/.."
dest=web/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@xterm/xterm@$XTERM" "@xterm/addon-fit@$FIT" >/dev/null)
mkdir -p "$tmp/x" "$tmp/f" "$dest"
tar xzf "$tmp/xterm-xterm-$XTERM.tgz" -C "$tmp/x"
tar xzf "$tmp/xterm-addon-fit-$FIT.tgz" -C "$tmp/f"
cp "$tmp/x/package/lib/xterm.js" "$dest/xterm.js"
cp "$tmp/x/package/css/xterm.css" "$dest/xterm.css"
cp "$tmp/x/package/LICENSE" "$dest/LICENSE.xterm"
cp "$tmp/f/package/lib/addon-fit.js" "$dest/addon-fit.js"
cp "$tmp/f/package/LICENSE" "$dest/LICENSE.addon-fit"
printf '@xterm/xterm %s\n@xterm/addon-fit %s\n' "$XTERM" "$FIT" > "$dest/VERSIONS"
(cd "$dest" && sha256sum VERSIONS xterm.js xterm.css LICENSE.xterm addon-fit.js LICENSE.addon-fit > SHA256SUMS)
echo "web/vendor: @xterm/xterm $XTERM, @xterm/addon-fit $FIT"
