#!/usr/bin/env bash
# Installs what agentgpu needs on Debian/Ubuntu: Debian's chromium (the browser for Playwright
# and SwiftShader, the CPU Vulkan driver that gives WebGPU without a GPU) when it is missing,
# and the npm packages when node_modules is missing or older than package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
node_minor=$(node -p 'process.versions.node.split(".")[1]')
if (( node_major < 20 || (node_major == 20 && node_minor < 19) )); then
  echo "agentgpu: Node $(node --version) is too old: install Node 20.19 or newer" >&2
  exit 1
fi

if [[ ! -x /usr/bin/chromium || ! -f /usr/lib/chromium/vk_swiftshader_icd.json ]]; then
  echo "agentgpu setup: installing Debian's chromium (browser + SwiftShader)..."
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "agentgpu: chromium is missing and this user cannot install it: run 'apt-get install chromium' as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "agentgpu setup: installing npm packages..."
  # Not `npm ci`: the registry reachable here serves node-llama-cpp's linux builds only, so the
  # lockfile cannot list its mac/windows optional packages, and ci refuses such a lockfile.
  # `npm install` follows the lockfile and skips the optional packages it cannot have.
  npm install --no-audit --no-fund
fi
echo "agentgpu setup: ready ($(/usr/bin/chromium --version 2>/dev/null | head -1), node $(node --version))"
