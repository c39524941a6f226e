#!/usr/bin/env bash
# deps.sh run|test — make sure the system tools castnet needs are present.
# As root it installs what is missing with apt-get; otherwise it stops and
# says exactly what to install.
set -euo pipefail

need=(ffmpeg:ffmpeg ffprobe:ffmpeg)
debs=() # packages that install no command to look for
if [ "${1:-run}" = test ]; then
  need+=(chromium:chromium)
  # test/e2e/gstreamer_test.go: a GStreamer webrtcbin (libnice) WHIP
  # publisher driven from Python, in a network namespace made with ip(8).
  need+=(ip:iproute2)
  debs+=(python3-gi gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly)
  # The npm WHIP clients test/e2e/whipclients_test.go publishes with, as
  # their package-lock.json pins them. On exit: npm is one of the system
  # packages below, and the script may end early once they are all there.
  whipclients=$(cd "$(dirname "$0")/../test/e2e/whipclients" && pwd)
  install_whipclients() {
    local status=$?
    if [ "$status" -eq 0 ] && [ ! "$whipclients/node_modules/.package-lock.json" -nt "$whipclients/package-lock.json" ]; then
      npm ci --prefix "$whipclients" --no-audit --no-fund --loglevel=error || status=$?
    fi
    exit "$status"
  }
  trap install_whipclients EXIT
fi
need+=(npm:npm)

missing_pkgs=()
for pair in "${need[@]}"; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || missing_pkgs+=("$pkg")
done
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing_pkgs+=("$pkg")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "castnet needs Go 1.26 or later: see https://go.dev/doc/install" >&2
  exit 1
fi
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0

# De-duplicate (ffmpeg provides both ffmpeg and ffprobe).
mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "castnet needs these system packages: ${missing_pkgs[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y ${missing_pkgs[*]}" >&2
  exit 1
fi
echo "installing ${missing_pkgs[*]} with apt-get (one-time)…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
echo "installed ${missing_pkgs[*]}" >&2
