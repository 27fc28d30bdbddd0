#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3 served to a browser, with a Node extension host)
# into DEST, so the e2e tests (test/e2e/harness.ts) can drive a real VS Code workbench.
#
# Usage: scripts/install-code-server.sh [DEST]   (default: $HOME/.cache/code-server-4.100.3)
#        or CODE_SERVER_DIR=... scripts/install-code-server.sh
#
# Works on a machine that reaches only the npm registry and Debian's packages.
# Idempotent: a finished install (marked by DEST/.complete) is reused; a half-finished one is
# wiped and redone.
#
# Why each step:
#  - @vscode/test-electron downloads VS Code from the internet at run time, which is not
#    reachable here; code-server is a plain npm package, so it comes from the npm registry.
#  - code-server 4.100.x is the newest line that still runs on Node 20 (later ones need Node 22).
#  - Its postinstall refuses to run as root without unsafe-perm and downloads ripgrep from
#    GitHub, so all install scripts are skipped (--ignore-scripts) and we do by hand what they
#    would have done: install VS Code's own node_modules, rebuild the native modules with
#    npm/node-gyp against the local Node headers, and take ripgrep from Debian.
#  - libkrb5-dev is needed to compile the `kerberos` native module.
#  - node_modules.asar is a symlink to node_modules (VS Code's loader looks for the .asar name).
#  - The remote-cli / browser helper symlinks are what code-server's postinstall creates.
set -euo pipefail
export npm_config_yes=true   # native modules call `npx node-gyp` from their install scripts
DEST="${1:-${CODE_SERVER_DIR:-$HOME/.cache/code-server-4.100.3}}"
VERSION=4.100.3

if [ -f "$DEST/.complete" ]; then echo "code-server already installed in $DEST"; exit 0; fi

# System packages (only what is missing). apt-get needs root; in CI we are root.
need=()
command -v rg >/dev/null || need+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
# node-gyp builds the native modules below with a C++ compiler, make and python3.
for tool in g++ make python3; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing Debian packages: ${need[*]}"
  # Lock timeout: another apt-get (e.g. install-system-deps.sh) may hold the dpkg lock.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Fresh start (a partial install from an interrupted run is not trusted).
rm -rf "$DEST" && mkdir -p "$DEST" && cd "$DEST"
npm init -y >/dev/null

# 1. code-server itself, without its postinstall (see above).
npm install "code-server@$VERSION" --ignore-scripts --no-audit --no-fund --loglevel=error
# argon2 (password hashing) is a native module loaded at startup even with --auth none.
npm rebuild argon2 --loglevel=error

# 2. VS Code's own runtime dependencies (what the postinstall would install).
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
# ripgrep (search) from Debian instead of @vscode/ripgrep's GitHub download.
mkdir -p node_modules/@vscode/ripgrep/bin && cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
# Native modules of VS Code's server, compiled locally against this Node.
npm rebuild node-pty @vscode/spdlog kerberos native-watchdog @parcel/watcher @vscode/deviceid --loglevel=error
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)

# 3. Dependencies of VS Code's built-in extensions (git, typescript features, ...).
(cd extensions && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

# Smoke check, then mark the install as complete.
node "$DEST/node_modules/code-server/out/node/entry.js" --version >/dev/null
touch "$DEST/.complete"
echo "code-server installed: node $DEST/node_modules/code-server/out/node/entry.js"
