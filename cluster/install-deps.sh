#!/usr/bin/env bash
# Installs the system packages a fresh Debian machine needs to build and run Trent.
# Idempotent: does nothing when everything is present.
set -euo pipefail
missing=()
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
# The AWS CLI, for the CLI conformance test and the example `make run` prints.
command -v aws >/dev/null 2>&1 || missing+=(awscli)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
# The OpenSSL CLI, the independent implementation kms-crypto's interoperability tests check against.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# nftables and iproute2 for jepsen-lite's network-namespace partitions (make jepsen-partitions).
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v make >/dev/null 2>&1 || missing+=(make)
# curl, for the console-over-TLS check in t82 and the README's health examples.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# SoftHSM2, the PKCS#11 token the PKCS#11 seal of the root key uses in tests and `make run`.
dpkg -s softhsm2 >/dev/null 2>&1 || missing+=(softhsm2)
# OpenSC's pkcs11-tool: the HSM key store test lists the token's objects with a PKCS#11 client
# that is not Trent's.
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
# Headless Chromium and its WebDriver, which the console's browser tests (t95) drive.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# wrk and etcd, the external load generator and the peer `make bench` measures against.
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust (rustup) first" >&2
  exit 1
fi
# The cargo tools `make verify` runs, from crates.io with their own lock files; each is skipped
# when its binary is already on PATH. Building them takes minutes the first time.
install_cargo_tool() {
  local crate=$1 version=$2
  if command -v "$crate" >/dev/null 2>&1; then
    return
  fi
  echo "installing $crate $version (cargo install --locked; takes a few minutes)"
  local started=$SECONDS
  cargo install --locked "$crate" --version "$version"
  echo "installed $crate $version in $((SECONDS - started)) s"
}
install_cargo_tool cargo-machete 0.9.2
install_cargo_tool cargo-deny 0.20.2
