#!/usr/bin/env bash
# Builds a release and installs `liveboot` with its `lb` alias, the example config and the serve unit.
# Usage: deploy/install.sh [PREFIX=/usr/local]
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
swift build -c release --product liveboot
install -D -m 755 "$(swift build -c release --show-bin-path)/liveboot" "$prefix/bin/liveboot"
ln -sf liveboot "$prefix/bin/lb"
install -d -m 755 /etc/liveboot /var/lib/liveboot/images
# The console panel's terminal: Debian's xterm.js, bundled for the browser (see deploy/xterm.sh).
deploy/xterm.sh /usr/share/liveboot/xterm
[ -e /etc/liveboot/liveboot.yaml ] || install -m 644 deploy/liveboot.yaml.example /etc/liveboot/liveboot.yaml
if [ -d /etc/systemd/system ]; then
  install -m 644 deploy/liveboot-serve.service /etc/systemd/system/liveboot-serve.service
  echo "systemd unit installed: systemctl enable --now liveboot-serve (after creating the liveboot user)"
fi
echo "installed $prefix/bin/liveboot and $prefix/bin/lb; edit /etc/liveboot/liveboot.yaml"
