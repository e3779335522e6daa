#!/usr/bin/env bash
# Installs the Debian packages Writ's tests use (real git, gpg and ssh-keygen make the signed
# fixtures; Chromium opens and prints the evidence report, poppler-utils reads the PDF). Only
# missing packages are installed, so a prepared machine needs no network.
set -euo pipefail

packages=(git gnupg openssh-client ca-certificates postgresql chromium poppler-utils)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all of ${packages[*]} present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
