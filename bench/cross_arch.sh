#!/usr/bin/env bash
# Cross-architecture bit-identity check: the streams of bench/cross_arch_hashes.py hashed natively
# (x86-64) and on arm64 (a Debian bookworm userland run under qemu-user), compared stream by stream.
# Exits non-zero if any stream differs. See docs/cross-arch.md.
#
#   bash bench/cross_arch.sh                        # this checkout's fastinit/
#   bash bench/cross_arch.sh --rev HEAD~3           # fastinit/ as committed at a revision (git archive)
#   bash bench/cross_arch.sh --elements 100003      # shorter streams (default 1,000,003)
#
# Environment: FASTINIT_CROSS_ARCH_DIR (cache: userland, venv, Numba cache, results; default
# ~/.cache/fastinit-cross-arch), FASTINIT_NATIVE_PYTHON (default .venv/bin/python, else python3),
# FASTINIT_CROSS_ARCH_MIRROR (Debian mirror, default http://deb.debian.org/debian).
# Needs root or sudo (apt-get, mmdebstrap, chroot; run as another user, it reruns itself with sudo).
# binfmt_misc is not needed: the emulator is copied into the userland and runs the interpreter itself
# (chroot ROOTFS qemu-aarch64-static python3), so nothing of the host's Python, site-packages, pip
# configuration or Numba cache is visible to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ELEMENTS=1000003
REV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --elements) ELEMENTS=$2; shift 2 ;;
    --rev) REV=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cross_arch.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

CACHE=${FASTINIT_CROSS_ARCH_DIR:-$HOME/.cache/fastinit-cross-arch}
MIRROR=${FASTINIT_CROSS_ARCH_MIRROR:-http://deb.debian.org/debian}
if [ -n "${FASTINIT_NATIVE_PYTHON:-}" ]; then NATIVE_PY=$FASTINIT_NATIVE_PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then NATIVE_PY=$ROOT/.venv/bin/python
else NATIVE_PY=python3; fi
if [ "$(id -u)" != 0 ]; then  # apt-get, mmdebstrap and chroot: all of it as root
  exec sudo env HOME="$HOME" FASTINIT_CROSS_ARCH_DIR="$CACHE" FASTINIT_CROSS_ARCH_MIRROR="$MIRROR" \
    FASTINIT_NATIVE_PYTHON="$(command -v "$NATIVE_PY")" PATH="$PATH" bash "$0" --elements "$ELEMENTS" ${REV:+--rev "$REV"}
fi

ROOTFS=$CACHE/rootfs-arm64-bookworm
RESULTS=$CACHE/results
QEMU_IN_ROOTFS=/usr/libexec/fastinit-cross-arch/qemu-aarch64-static
CA_IN_ROOTFS=/etc/ssl/certs/fastinit-host-ca.crt
mkdir -p "$CACHE" "$RESULTS"

TIMINGS=()
phase_start=$SECONDS
phase() {  # phase NAME: record the time since the previous phase ended
  local took=$((SECONDS - phase_start))
  TIMINGS+=("$(printf '%-44s %5d s' "$1" "$took")")
  echo "== $1: ${took} s"
  phase_start=$SECONDS
}

# 1. Tools (Debian/Ubuntu packages).
if ! command -v mmdebstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null \
   || [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap qemu-user-static debian-archive-keyring >/dev/null
fi
phase "tools (apt-get)"

# 2. The arm64 userland, once. Only extracted (--variant=extract): no maintainer script has to run
#    under emulation, so no binfmt_misc registration is needed.
#    libstdc++6: NumPy's extension modules; libgomp1: Numba's OpenMP threading layer.
PACKAGES=python3,python3-venv,python3-pip,libstdc++6,libgomp1
if [ "$(cat "$ROOTFS/.fastinit-complete" 2>/dev/null)" != "bookworm $PACKAGES" ]; then
  rm -rf "$ROOTFS"
  mmdebstrap --quiet --architectures=arm64 --variant=extract --skip=check/qemu \
    --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR"
  echo "bookworm $PACKAGES" > "$ROOTFS/.fastinit-complete"
fi
mkdir -p "$ROOTFS$(dirname "$QEMU_IN_ROOTFS")" "$ROOTFS/etc/ssl/certs" "$ROOTFS/root" "$ROOTFS/var/cache/numba"
cp "$(command -v qemu-aarch64-static)" "$ROOTFS$QEMU_IN_ROOTFS"
# Name resolution and the host's trust store (a TLS-intercepting proxy's CA, if any) for pip.
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cp /etc/hosts "$ROOTFS/etc/hosts" 2>/dev/null || true
host_ca=${PIP_CERT:-${REQUESTS_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}}
if [ -f "$host_ca" ]; then cp "$host_ca" "$ROOTFS$CA_IN_ROOTFS"; else : > "$ROOTFS$CA_IN_ROOTFS"; fi
# /proc is not mounted in the userland: this file stands in for it, so that LLVM (Numba) compiles
# for a real arm64 server core, a Neoverse-N1 (AWS Graviton2, Ampere Altra), not "generic".
mkdir -p "$ROOTFS/proc"
for cpu in 0 1; do
  printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' \
    "$cpu" "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs"
done > "$ROOTFS/proc/cpuinfo"
phase "arm64 userland (mmdebstrap)"

emulated() {  # emulated PROGRAM ARGS...: run an arm64 program of the userland, with a clean environment
  local pip_cert=()
  if [ -s "$ROOTFS$CA_IN_ROOTFS" ]; then pip_cert=(PIP_CERT=$CA_IN_ROOTFS); fi
  env -i HOME=/root PATH=/opt/venv/bin:/usr/bin:/bin LANG=C.UTF-8 PYTHONNOUSERSITE=1 \
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 ${pip_cert[@]+"${pip_cert[@]}"} \
    NUMBA_CACHE_DIR=/var/cache/numba PYTHONPATH=/opt/fastinit-src \
    "$(command -v chroot)" "$ROOTFS" "$QEMU_IN_ROOTFS" "$@"
}

# 3. The same versions of fastinit's dependencies as the native interpreter has, under emulation.
PINS=$("$NATIVE_PY" - "$ROOT/pyproject.toml" <<'PY'
import re, sys
from importlib import metadata
text = open(sys.argv[1]).read()
try:
    import tomllib
    deps = tomllib.loads(text)["project"]["dependencies"]
except ImportError:  # Python 3.10
    deps = re.findall(r'"([^"]+)"', re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1))
names = [re.match(r"[A-Za-z0-9_.-]+", d).group(0) for d in deps] + ["llvmlite"]  # llvmlite: numba's
print(" ".join(f"{n}=={metadata.version(n)}" for n in dict.fromkeys(names)))
PY
)
echo "native: $("$NATIVE_PY" -c 'import platform; print(platform.machine(), platform.python_version())'), $PINS"
if [ "$(cat "$ROOTFS/opt/venv/.fastinit-pins" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$ROOTFS/opt/venv"
  emulated /usr/bin/python3 -m venv --without-pip /opt/venv
  pip_wheel=$(cd "$ROOTFS" && ls usr/share/python-wheels/pip-*.whl | head -n 1)
  emulated /opt/venv/bin/python3 "/$pip_wheel/pip" install -q --no-index "/$pip_wheel"
  # shellcheck disable=SC2086
  emulated /opt/venv/bin/python3 -m pip install -q --only-binary=:all: $PINS
  echo "$PINS" > "$ROOTFS/opt/venv/.fastinit-pins"
fi
phase "pip install under emulation"

# 4. The code under test, without __pycache__ (no x86 Numba cache), for both sides. Synced by
#    content: a file whose bytes did not change keeps its mtime, so the Numba caches stay warm.
sync_tree() {  # sync_tree FROM TO
  local from=$1 to=$2 f
  mkdir -p "$to"
  (cd "$from" && find . -type f) | while IFS= read -r f; do
    if ! cmp -s "$from/$f" "$to/$f"; then mkdir -p "$(dirname "$to/$f")" && cp "$from/$f" "$to/$f"; fi
  done
  (cd "$to" && find . -type f) | while IFS= read -r f; do [ -e "$from/$f" ] || rm -f "$to/$f"; done
}
STAGE=$CACHE/stage SRC=$CACHE/src
rm -rf "$STAGE" && mkdir -p "$STAGE/bench"
if [ -n "$REV" ]; then
  git -C "$ROOT" archive "$REV" fastinit | tar -x -C "$STAGE"
  echo "fastinit/ from $REV ($(git -C "$ROOT" rev-parse --short "$REV"))"
else
  tar -C "$ROOT" --exclude=__pycache__ -cf - fastinit | tar -x -C "$STAGE"
  echo "fastinit/ from the working tree"
fi
cp "$ROOT/bench/cross_arch_hashes.py" "$STAGE/bench/"
sync_tree "$STAGE" "$SRC"
sync_tree "$SRC" "$ROOTFS/opt/fastinit-src"

# 5. Hashes, natively and under emulation, with a stream dump each for the comparison's details.
rm -rf "$RESULTS/native" "$ROOTFS/var/tmp/fastinit-dump"
NUMBA_CACHE_DIR=$CACHE/numba-native PYTHONPATH=$SRC "$NATIVE_PY" "$SRC/bench/cross_arch_hashes.py" \
  --elements "$ELEMENTS" --dump "$RESULTS/native" > "$RESULTS/native.json"
phase "native run"
emulated /opt/venv/bin/python3 /opt/fastinit-src/bench/cross_arch_hashes.py --verbose \
  --elements "$ELEMENTS" --dump /var/tmp/fastinit-dump > "$RESULTS/aarch64.json"
phase "emulated run (aarch64, qemu-user)"

# 6. Compare.
rc=0
"$NATIVE_PY" "$ROOT/bench/cross_arch_compare.py" "$RESULTS/native.json" "$RESULTS/aarch64.json" \
  --dumps "$RESULTS/native" "$ROOTFS/var/tmp/fastinit-dump" | tee "$RESULTS/comparison.txt" || rc=$?
printf '%s\n' "${TIMINGS[@]}" | tee "$RESULTS/timings.txt"
exit "$rc"
