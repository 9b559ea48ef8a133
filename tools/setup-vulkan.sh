#!/usr/bin/env bash
# Installs a software Vulkan driver (Mesa lavapipe >= 24) so dawn.node finds a WebGPU adapter on a
# machine without a GPU. Debian 12's own Mesa 22 is too old for Dawn, so bookworm takes Mesa from
# bookworm-backports. Needs root and apt; otherwise prints what to install and exits non-zero.
set -euo pipefail

say() { printf 'setup-vulkan: %s\n' "$*" >&2; }

. /etc/os-release 2>/dev/null || { say "cannot read /etc/os-release; install Mesa >= 24 'mesa-vulkan-drivers' (lavapipe) by hand"; exit 2; }

manual() {
  say "no WebGPU adapter, and this script can only install one as root on Debian/Ubuntu."
  say "Install a Vulkan driver (a GPU driver, or Mesa >= 24 lavapipe), e.g. on Debian 12 as root:"
  say "  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list"
  say "  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers"
  say "On Ubuntu 24.04 or Debian 13: apt-get install -y mesa-vulkan-drivers"
  exit 2
}

[ "$(id -u)" = 0 ] || manual
command -v apt-get >/dev/null || manual

export DEBIAN_FRONTEND=noninteractive
case "${ID:-}:${VERSION_CODENAME:-}" in
  debian:bookworm)
    say "installing Mesa lavapipe from bookworm-backports (Debian 12's Mesa 22 is rejected by Dawn)"
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/hlgfa-backports.list
    apt-get update -qq
    apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
    ;;
  debian:* | ubuntu:*)
    say "installing Mesa lavapipe (mesa-vulkan-drivers) from ${ID} ${VERSION_CODENAME:-}"
    apt-get update -qq
    apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    ;;
  *)
    manual
    ;;
esac
say "installed: $(dpkg-query -W -f='${Package} ${Version}\n' mesa-vulkan-drivers 2>/dev/null || echo '?')"
