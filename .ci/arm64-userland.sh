#!/usr/bin/env bash
# The one Debian bookworm arm64 userland, run under qemu-aarch64, that both the CPU-class matrix
# (issue 26: `aarch64` = Raspberry Pi 4's Cortex-A72, `aarch64 asimddp` = Pi 5's Cortex-A76) and the
# arm64 CI stage (issue 27) use. Built once with debootstrap and cached OUTSIDE the clone, so a
# second CI run on the same machine reuses it; rebuilt when the cache is missing or incomplete.
#
#   .ci/arm64-userland.sh build                  # ensure emulation and the userland exist; print ROOT
#   .ci/arm64-userland.sh install [CLONE]        # copy CLONE (default: this clone) to ROOT$CATDOG_ARM64_WORKDIR and
#                                                # install it there exactly as the README tells a Pi user
#   .ci/arm64-userland.sh run CPU COMMAND...     # run COMMAND in that folder (default /root/catdog), .venv active,
#                                                # as QEMU_CPU=CPU (cortex-a72 or cortex-a76)
#
# Needs root (chroot, mounts). Set-up facts this follows (issue 26/27, measured on this project's host):
# - binfmt_misc must be mounted and qemu-aarch64 enabled, or nothing arm64 runs;
# - qemu-user 7.2 passes the host's x86 /proc/cpuinfo through, and onnxruntime and LiteRT segfault on it,
#   so an arm64 cpuinfo for the pinned core is bind-mounted over ROOT/proc/cpuinfo;
# - QEMU_CPU is pinned: qemu's default `max` emulates SME, which no Pi has, and gives wrong int8 TFLite answers.
# Every set-up failure ends the script with one "arm64: cannot ..." line and a non-zero exit.
set -euo pipefail
clone=$(cd "$(dirname "$0")/.." && pwd)
root=${CATDOG_ARM64_ROOT:-/var/cache/catdog/arm64-bookworm}
mirror=${CATDOG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Where `install` puts the clone inside the userland and `run` starts (one per worktree if several share ROOT).
workdir=${CATDOG_ARM64_WORKDIR:-/root/catdog}
die() { echo "arm64: cannot $*" >&2; exit 1; }

ensure_emulation() {
  [ "$(id -u)" -eq 0 ] || die "set up the arm64 userland without root (chroot and mounts need it)"
  if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
    || ! command -v update-binfmts >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support debootstrap \
      > /tmp/catdog-arm64-apt.log 2>&1 || die "apt-get install qemu-user-static binfmt-support debootstrap (see /tmp/catdog-arm64-apt.log)"
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
      || die "mount binfmt_misc (a container needs --privileged or a host with binfmt_misc mounted)"
  fi
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "register qemu-aarch64 with binfmt_misc (update-binfmts --enable qemu-aarch64 failed)"
}

write_cpuinfo() {  # CPU PART FEATURES: an arm64 /proc/cpuinfo for two cores of the pinned model
  local file="$root/etc/catdog-cpuinfo-$1"
  : > "$file"
  for core in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x%s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
      "$core" "$3" "$4" "$2" "$5" >> "$file"
  done
}

build() {
  ensure_emulation
  if [ -f "$root/.catdog-complete" ]; then
    echo "arm64: reusing the userland at $root" >&2
  else
    local started=$SECONDS
    echo "arm64: building a Debian bookworm arm64 userland at $root (debootstrap, about 6 minutes)" >&2
    rm -rf "$root.partial" && mkdir -p "$(dirname "$root")"
    debootstrap --arch=arm64 --variant=minbase \
      --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$root.partial" "$mirror" \
      > /tmp/catdog-debootstrap.log 2>&1 || die "debootstrap the arm64 userland (see /tmp/catdog-debootstrap.log)"
    rm -rf "$root" && mv "$root.partial" "$root"
    touch "$root/.catdog-complete"
    echo "arm64: userland built in $((SECONDS - started)) s" >&2
  fi
  # The host's network, pip and certificate settings (re-copied on every build: the host's may change).
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/host.crt"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  # Only the certificate: the host's find-links and local indexes hold x86 wheels and do not exist inside.
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndisable-pip-version-check = true\ntimeout = 180\n' > "$root/etc/pip.conf"
  if [ -f /etc/apt/apt.conf ]; then cp /etc/apt/apt.conf "$root/etc/apt/apt.conf"; fi
  # Raspberry Pi 4 (BCM2711: Cortex-A72 r0p3, no crypto, no dot product) and Pi 5 (BCM2712: Cortex-A76 r4p1).
  write_cpuinfo cortex-a72 0xd08 "fp asimd evtstrm crc32 cpuid" 0 3
  write_cpuinfo cortex-a76 0xd0b "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" 4 1
  echo "$root"
}

run() {  # CPU COMMAND...
  local cpu=$1; shift
  case "$cpu" in cortex-a72|cortex-a76) ;; *) die "run as QEMU_CPU=$cpu: pin cortex-a72 (Pi 4) or cortex-a76 (Pi 5)";; esac
  [ -f "$root/.catdog-complete" ] || die "run without a userland: .ci/arm64-userland.sh build first"
  ensure_emulation
  # A private mount namespace: the mounts vanish with the command, even when it is killed.
  unshare --mount --propagation private bash -s "$root" "$cpu" "$workdir" "$@" <<'EOF'
set -euo pipefail
root=$1; cpu=$2; workdir=$3; shift 3
mount -t proc proc "$root/proc"
mount --bind "$root/etc/catdog-cpuinfo-$cpu" "$root/proc/cpuinfo"
mount --rbind /dev "$root/dev"
mount -t sysfs sysfs "$root/sys" 2>/dev/null || true
mount -t tmpfs tmpfs "$root/tmp"
command=$(printf '%q ' "$@")
# chroot lives in /usr/sbin: resolve it with the caller's PATH, before env -i clears it.
chroot_command=$(command -v chroot) || { echo "arm64: cannot find chroot on the host" >&2; exit 1; }
exec env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 QEMU_CPU="$cpu" \
  "$chroot_command" "$root" /bin/bash -c "cd $workdir 2>/dev/null || cd /root; [ -f .venv/bin/activate ] && source .venv/bin/activate; $command"
EOF
}

install() {  # [CLONE]
  local source=${1:-$clone}
  [ -f "$root/.catdog-complete" ] || die "install without a userland: .ci/arm64-userland.sh build first"
  rm -rf "${root:?}$workdir" && mkdir -p "$root$workdir"
  # The clone as a user has it: tracked files only, no venvs or runs of ours.
  git -C "$source" ls-files -z --cached --others --exclude-standard | (cd "$source" && xargs -0 cp --parents -t "$root$workdir")
  local started=$SECONDS log="/tmp/catdog-arm64-pip-$(basename "$workdir").log"  # one per workdir: helpers share ROOT
  # The README's Raspberry Pi install (picamera2 comes from Raspberry Pi OS's apt, absent from Debian).
  run cortex-a76 bash -c 'python3 -m venv --system-site-packages .venv && .venv/bin/pip install -q .' \
    > "$log" 2>&1 || { tail -5 "$log" >&2; die "pip install . in the arm64 userland (see $log)"; }
  echo "arm64: pip install . took $((SECONDS - started)) s; venv $(du -sm "$root$workdir/.venv" | cut -f1) MB" >&2
}

case "${1:-}" in
  build) build ;;
  install) shift; install "$@" ;;
  run) shift; [ $# -ge 2 ] || die "run: give a CPU and a command"; run "$@" ;;
  *) echo "usage: .ci/arm64-userland.sh build | install [CLONE] | run CPU COMMAND..." >&2; exit 2 ;;
esac
