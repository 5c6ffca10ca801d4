#!/usr/bin/env bash
# Vendors every crate of Cargo.lock into deploy/docker/vendor/crates, so `docker build .` needs
# no crate registry (for machines whose containers cannot reach one). Remove the folder to go
# back to downloading.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf deploy/docker/vendor/crates
cargo vendor --locked --versioned-dirs deploy/docker/vendor/crates >/dev/null 2>&1
echo "vendored $(ls deploy/docker/vendor/crates | wc -l) crates into deploy/docker/vendor/crates"
