#!/usr/bin/env bash
# Creates the public base images the Dockerfiles name, locally, from Debian's packages, for a
# machine that reaches Debian's archive but no image registry. Elsewhere `docker build` pulls
# the real ones and this script is not needed.
#
#   deploy/docker/local-base-images.sh            debian:bookworm-slim
#   deploy/docker/local-base-images.sh --rust     also rust:1.88-slim-bookworm (this machine's toolchain)
#
# An image that already exists is left as it is (FORCE=1 makes it again).
set -euo pipefail

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_IMAGE="${DEBIAN_IMAGE:-debian:bookworm-slim}"
RUST_IMAGE="${RUST_IMAGE:-rust:1.88-slim-bookworm}"

have_image() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (start dockerd)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! have_image "$DEBIAN_IMAGE"; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  echo "building $DEBIAN_IMAGE with debootstrap from $MIRROR"
  debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # What the official slim image leaves out.
  rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/cache/apt/*.bin \
    "$work/root"/usr/share/doc/* "$work/root"/usr/share/man/* "$work/root"/usr/share/info/*
  tar -C "$work/root" -c . | docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$work/root"
  echo "created $DEBIAN_IMAGE"
fi

if [ "${1:-}" = "--rust" ] && ! have_image "$RUST_IMAGE"; then
  # A stand-in under the official name: this machine's toolchain (whatever its version) on the
  # Debian image, with gcc from Debian for the linker and the crates that build C.
  rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
  toolchain="$(rustup show active-toolchain | cut -d' ' -f1)"
  echo "building $RUST_IMAGE from $DEBIAN_IMAGE and the local toolchain $toolchain"
  mkdir -p "$work/rust/toolchain"
  # The compiler and the standard library; not the documentation.
  for part in bin lib libexec; do
    cp -aL "$rustup_home/toolchains/$toolchain/$part" "$work/rust/toolchain/"
  done
  cat >"$work/rust/Dockerfile" <<DOCKERFILE
FROM $DEBIAN_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
DOCKERFILE
  docker build -q -t "$RUST_IMAGE" "$work/rust" >/dev/null
  echo "created $RUST_IMAGE"
fi
