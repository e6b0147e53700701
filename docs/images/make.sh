#!/usr/bin/env bash
# Regenerates the sample images in docs/images/ from real herald output:
#
#   docs/images/make.sh          # from anywhere; about a minute once the tools are installed
#
# The example project at the repository's root (herald.yaml, pricing.yaml, campaigns/,
# audiences/) is copied to a temporary directory (so no local state is read) and planned
# against the built-in emulator at a fixed time, NOW below, so every run prints the same:
#
#   plan-comment.md     herald plan --emulator --now NOW --format markdown --redact
#   plan-comment.png    that Markdown as GitHub shows the pull-request comment (marked, GFM,
#                       github-markdown-css; the invoice-reminder-dec section opened)
#   plan-terminal.ansi  herald plan --emulator --now NOW, on a terminal: herald colors only
#                       when stdout is a terminal (and NO_COLOR is unset), so it runs under
#                       script(1)
#   plan-terminal.png   that output through aha, in a dark terminal window
#
# tests/docs_images.rs checks that the two sources are still what herald prints (cargo test
# --test docs_images); when it fails, run this script and commit the four files.
#
# What it installs when missing: chromium, aha and optipng from Debian (apt-get, as root);
# marked, github-markdown-css and playwright-core (the versions below) from npm, into
# $HERALD_IMAGES_TOOLS (default ~/.cache/herald-docs-images), outside the repository. It builds
# herald with `cargo build --release` unless HERALD names a binary. CHROMIUM names the browser
# (default /usr/bin/chromium).
set -euo pipefail

NOW=2026-12-01T04:00:00Z
NPM_PACKAGES=(marked@18.2.1 github-markdown-css@5.9.0 playwright-core@1.65.1)

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${HERALD_IMAGES_TOOLS:-$HOME/.cache/herald-docs-images}

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v aha >/dev/null || missing+=(aha)
command -v optipng >/dev/null || missing+=(optipng)
command -v script >/dev/null || missing+=(bsdutils)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" fonts-dejavu-core >&2
fi
stamp="$tools/.installed-${NPM_PACKAGES[*]// /-}"
if [ ! -e "$stamp" ]; then
  echo "installing ${NPM_PACKAGES[*]} from npm into $tools" >&2
  mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "${NPM_PACKAGES[@]}" >&2
  touch "$stamp"
fi

if [ -z "${HERALD:-}" ]; then
  (cd "$root" && cargo build --release --quiet)
  HERALD="${CARGO_TARGET_DIR:-$root/target}/release/herald"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/project"
cp -R "$root/herald.yaml" "$root/pricing.yaml" "$root/campaigns" "$root/audiences" "$work/project/"
cd "$work/project"

"$HERALD" plan --emulator --now "$NOW" --format markdown --redact >"$here/plan-comment.md"
# script(1) gives herald a terminal; it writes CRLF line ends, which go.
script -qec "$(printf '%q ' "$HERALD" plan --emulator --now "$NOW")" /dev/null </dev/null \
  | tr -d '\r' >"$here/plan-terminal.ansi"

# aha drops faint (SGR 2): show it as dark gray (SGR 90), as many terminals do.
sed 's/\x1b\[2m/\x1b[90m/g' "$here/plan-terminal.ansi" | aha --no-header --stylesheet >"$work/terminal.html"
cp "$here/render.mjs" "$tools/render.mjs"    # next to node_modules, where its imports resolve
node "$tools/render.mjs" comment "$here/plan-comment.md" "$here/plan-comment.png"
node "$tools/render.mjs" terminal "$work/terminal.html" "$here/plan-terminal.png" \
  "herald plan --emulator --now $NOW"
optipng -quiet -o5 -strip all "$here/plan-comment.png" "$here/plan-terminal.png"
ls -l "$here"/plan-comment.* "$here"/plan-terminal.* >&2
