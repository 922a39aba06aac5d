#!/usr/bin/env bash
# Fetches Twilio's Webchat 2.x bundle, @twilio/flex-webchat-ui from the npm registry, pinned by
# version and by the registry's sha512 of the package, into target/browser/ for the browser
# tests (tests/api/browser.rs), which serve it to Chromium from a loopback origin. It is not
# committed: Twilio's license, and 2.4 MB. Idempotent; needs npm (Debian: apt-get install npm).
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=2.9.4
INTEGRITY="sha512-s/rEF6qtdjX2ylVK2ur7WDY/p3YIDXEwS0oV5Ojqtui0aMkC/2SIwhVFz4u3+cjFyjpc5eUMU2U2HTA7LEYvtw=="
DEST="target/browser/flex-webchat-ui-$VERSION"
BUNDLE="twilio-flex-webchat.prod.browser.js"

if [ -f "$DEST/$BUNDLE" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@twilio/flex-webchat-ui@$VERSION" >/dev/null)
tarball="$tmp/twilio-flex-webchat-ui-$VERSION.tgz"
actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "@twilio/flex-webchat-ui@$VERSION: integrity $actual, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/bundle/$BUNDLE package/LICENSE package/package.json
mkdir -p "$DEST"
mv "$tmp/package/bundle/$BUNDLE" "$tmp/package/LICENSE" "$tmp/package/package.json" "$DEST/"
echo "fetched @twilio/flex-webchat-ui@$VERSION into $DEST"
