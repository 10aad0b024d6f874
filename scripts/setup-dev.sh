#!/usr/bin/env bash
# Set up everything the test suite needs on a Debian/Ubuntu machine, idempotently:
#   - system tools the interoperability tests drive: ffmpeg, caddy (HTTP/3), nginx,
#     Node.js/npm (apt-get, through sudo when not root);
#   - Shaka Packager from npm (package shaka-packager) in .tools/, linked as .tools/bin/packager;
#   - a virtual environment in .venv with the SDK and its lab, plots, cluster (Ray, for the
#     abr --engine ray test) and dev extras (scripts/install.sh, which also installs
#     python3-venv where the system Python lacks it).
# Tools already present are not reinstalled. Run from anywhere; works on the checkout it is in.
set -euo pipefail
cd "$(dirname "$0")/.."

SHAKA_VERSION="3.4.2"
APT_PACKAGES=()

need() { command -v "$1" >/dev/null 2>&1 || APT_PACKAGES+=("$2"); }
need ffmpeg ffmpeg
need caddy caddy
need nginx nginx
need npm npm

if ((${#APT_PACKAGES[@]})); then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    echo "setup-dev: installing ${APT_PACKAGES[*]} with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${APT_PACKAGES[@]}" >/dev/null
fi

case "$(uname -m)" in
    x86_64 | amd64) PACKAGER_BIN="packager-linux-x64" ;;
    aarch64 | arm64) PACKAGER_BIN="packager-linux-arm64" ;;
    *) echo "setup-dev: no Shaka Packager build for $(uname -m)" >&2; exit 1 ;;
esac
PACKAGER=".tools/node_modules/shaka-packager/bin/${PACKAGER_BIN}"
if [ ! -x "$PACKAGER" ] || ! "$PACKAGER" --version 2>/dev/null | grep -q "v${SHAKA_VERSION}"; then
    echo "setup-dev: installing shaka-packager@${SHAKA_VERSION} from npm into .tools/" >&2
    mkdir -p .tools
    npm install --silent --no-audit --no-fund --prefix .tools "shaka-packager@${SHAKA_VERSION}" >/dev/null
    chmod +x "$PACKAGER"
fi
mkdir -p .tools/bin
ln -sf "../node_modules/shaka-packager/bin/${PACKAGER_BIN}" .tools/bin/packager

bash scripts/install.sh lab,plots,cluster,dev
echo "setup-dev: ready (.venv, .tools/bin/packager, ffmpeg, caddy, nginx)" >&2
