#!/usr/bin/env bash
# regen.sh — regenerate the ethers.js test vectors the Go tests check
# against: internal/sign/testdata/ethers-vectors.json (EIP-712 records)
# and internal/pm/testdata/ethers-tickets.json (Livepeer tickets).
# Needs node and the root node_modules (npm ci). Run from anywhere.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
mkdir -p internal/sign/testdata internal/pm/testdata
trap 'rm -f internal/sign/testdata/ethers-vectors.json.tmp internal/pm/testdata/ethers-tickets.json.tmp' EXIT
node scripts/ethers/xcheck.mjs gen typed >internal/sign/testdata/ethers-vectors.json.tmp
node scripts/ethers/xcheck.mjs gen tickets >internal/pm/testdata/ethers-tickets.json.tmp
mv internal/sign/testdata/ethers-vectors.json.tmp internal/sign/testdata/ethers-vectors.json
mv internal/pm/testdata/ethers-tickets.json.tmp internal/pm/testdata/ethers-tickets.json
echo "wrote internal/sign/testdata/ethers-vectors.json and internal/pm/testdata/ethers-tickets.json"
