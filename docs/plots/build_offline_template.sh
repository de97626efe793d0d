#!/usr/bin/env bash
# Refreshes the vendored scripts of docs/plots/offline_template.html, DVC's plot page with vega,
# vega-lite and vega-embed inlined, so `dvc plots show` output renders without reaching a CDN.
# The page around the scripts (its licence comment, <head> and <body>) is edited in that file by
# hand; this script writes only its three inline <script> blocks and the versions its comment
# names, so the page's text lives in one place.
# Needs npm and the npm registry; run from anywhere. The versions are pinned here on purpose:
# bump them together and check a chart still renders (vega-embed 6 needs vega 5; DVC emits
# vega-lite v5 specs).
set -euo pipefail

VEGA=5.33.1
VEGA_LITE=5.23.0
VEGA_EMBED=6.29.0

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/offline_template.html"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# npm pack checks each tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >/dev/null)
for pkg in "vega-$VEGA" "vega-lite-$VEGA_LITE" "vega-embed-$VEGA_EMBED"; do
  mkdir "$work/$pkg"
  tar -xzf "$work/$pkg.tgz" -C "$work/$pkg" --strip-components=1
done

# Source-map comments point at files that are not vendored; a literal closing script tag
# would end the inline block early, so refuse rather than emit a broken page.
inline() {
  local js="$1"
  if grep -qi '</script' "$js"; then
    echo "error: $js contains a closing script tag; it cannot be inlined" >&2
    exit 1
  fi
  printf '<script>\n'
  grep -v '^//# sourceMappingURL=' "$js"
  printf '</script>\n'
}

if ! grep -q '^<script>$' "$out"; then
  echo "error: $out has no inline <script> block to replace" >&2
  exit 1
fi
# The page's own lines: those before its first inline script (with the versions it names set to
# the pinned ones), and those after its last.
before="$(sed -E '/^<script>$/,$d' "$out" | sed -E \
  -e "s/^(    vega +)[^ ]+( +\(build\/vega\.min\.js\))$/\1$VEGA\2/" \
  -e "s/^(    vega-lite +)[^ ]+( +\(build\/vega-lite\.min\.js\))$/\1$VEGA_LITE\2/" \
  -e "s/^(    vega-embed +)[^ ]+( +\(build\/vega-embed\.min\.js\))$/\1$VEGA_EMBED\2/")"
after="$(tac "$out" | sed '/^<\/script>$/,$d' | tac)"

{
  printf '%s\n' "$before"
  inline "$work/vega-$VEGA/build/vega.min.js"
  inline "$work/vega-lite-$VEGA_LITE/build/vega-lite.min.js"
  inline "$work/vega-embed-$VEGA_EMBED/build/vega-embed.min.js"
  printf '%s\n' "$after"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
