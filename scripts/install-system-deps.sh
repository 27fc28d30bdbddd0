#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those that are missing. Idempotent.
#  - chromium: the browser Playwright (playwright-core) drives in the e2e tests, at
#    /usr/bin/chromium. `npx playwright install` downloads its own browser from the internet,
#    which is not reachable here, so Debian's build is used instead.
#  - fonts-dejavu-core: a font, so that the workbench renders text in screenshots.
#  - ripgrep, libkrb5-dev: needed by scripts/install-code-server.sh (ripgrep for VS Code's
#    search, libkrb5-dev to compile the `kerberos` native module); installed here too so one
#    apt-get run covers everything.
#  - python3-numpy, python3-yaml: the unit tests check that scripts/make_test_data.py (run where
#    PyTorch is) makes the lab's synthetic clip, test-data pickles, frame normalization and key
#    names exactly as the lab does (test/unit/scripts.test.ts).
#  - python3-pil: test/unit/video.test.ts checks the lab's video preprocessing against
#    scripts/video_reference.py (numpy, and Pillow's own resize for HF image processors).
#  - python3-onnx: the ONNX project's own checker (onnx.checker.check_model, full_check) reads
#    every ONNX file the CLI writes, as trtexec's and Polygraphy's users do before building an
#    engine (test/unit/onnx-checker.test.ts).
#  - g++, make, python3: node-gyp compiles code-server's native modules with them
#    (scripts/install-code-server.sh); a fresh Debian image may lack them.
# Runs as root (CI); otherwise uses sudo.
set -euo pipefail
pkgs=(chromium fonts-dejavu-core ripgrep libkrb5-dev python3-numpy python3-yaml python3-pil python3-onnx g++ make python3)
need=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -eq 0 ]; then echo "system deps already installed: ${pkgs[*]}"; exit 0; fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing Debian packages: ${need[*]}"
# Lock timeout: another apt-get (e.g. a parallel install script) may hold the dpkg lock.
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
/usr/bin/chromium --version
