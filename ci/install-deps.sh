#!/usr/bin/env bash
# Installs the programs meshcheck's tests run: the real curl binary (the in-process backend's
# client). Uses the system package manager; needs root or sudo when something is missing.
set -euo pipefail

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "error: ${missing[*]} missing and not running as root; install ${missing[*]} and run again" >&2
    exit 1
  fi
fi

if command -v apt-get >/dev/null 2>&1; then
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
elif command -v dnf >/dev/null 2>&1; then
  $sudo dnf install -y "${missing[@]}"
elif command -v apk >/dev/null 2>&1; then
  $sudo apk add --no-cache "${missing[@]}"
else
  echo "error: no supported package manager found; install ${missing[*]} and run again" >&2
  exit 1
fi
