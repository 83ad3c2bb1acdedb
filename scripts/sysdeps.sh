#!/usr/bin/env bash
# Install the system programs shoal's tests use, when missing:
#   dot (Debian package graphviz) for .visualize()
#   ip (Debian package iproute2) for the network-namespace distributed test
#   chromium for the dashboard's browser tests (driven by Playwright)
# As root this uses apt-get; otherwise it prints the command to run.
set -euo pipefail
missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "sysdeps: installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "sysdeps: missing ${missing[*]}; install with: sudo apt-get install -y ${missing[*]}" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
fi
