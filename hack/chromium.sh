#!/usr/bin/env bash
# hack/chromium.sh — the headless browser of the web UI's end-to-end tests.
#
#   hack/chromium.sh          # install Debian's chromium if missing, print its path
#
# The tests drive it over the DevTools protocol (chromedp, pinned in go.mod),
# so Debian's package is all they need: no browser download at test time.
# Idempotent and quick when installed. Only the path goes to stdout.
set -euo pipefail
exec 3>&1 1>&2

die() { echo "chromium.sh: $*"; exit 1; }

find_chromium() {
	local c
	for c in "${SLIPWAY_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
		[[ -n "$c" && -x "$c" ]] && { echo "$c"; return 0; }
	done
	return 1
}

if ! bin=$(find_chromium); then
	[[ $EUID -eq 0 ]] || die "chromium is not installed and installing it needs root (apt-get install chromium)"
	echo "chromium.sh: installing chromium with apt"
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		chromium fonts-dejavu-core
	bin=$(find_chromium) || die "apt installed chromium but no binary was found"
fi
"$bin" --version >&2 || die "$bin does not run"
echo "$bin" >&3
