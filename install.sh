#!/bin/sh
# Installs the mck binary from a GitHub release, checking its SHA-256:
#
#   curl -fsSL https://raw.githubusercontent.com/magecloudkit/mck/main/install.sh | sh
#   curl -fsSL …/install.sh | MCK_VERSION=mck-v0.1.0 MCK_INSTALL_DIR=/usr/local/bin sh
#
# MCK_VERSION    a release tag (default: the latest release)
# MCK_INSTALL_DIR where to put `mck` (default: ~/.local/bin)
# MCK_REPO       owner/name of the repository (default: magecloudkit/mck)
# MCK_DOWNLOAD   the base URL of the release files (default: the repository's GitHub releases;
#                a mirror or a local directory as file://…)
#
# Linux x86_64 and arm64 get the static (musl) build, macOS the Intel or Apple silicon build.
set -eu

repo="${MCK_REPO:-magecloudkit/mck}"
version="${MCK_VERSION:-latest}"
dir="${MCK_INSTALL_DIR:-$HOME/.local/bin}"

fail() {
    echo "mck install: $*" >&2
    exit 1
}

case "$(uname -s)" in
    Linux) os=unknown-linux-musl ;;
    Darwin) os=apple-darwin ;;
    *) fail "no mck build for $(uname -s); build it with: cargo install --path crates/mck-cli" ;;
esac
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "no mck build for $(uname -m); build it with: cargo install --path crates/mck-cli" ;;
esac
asset="mck-$arch-$os.tar.gz"

if [ -n "${MCK_DOWNLOAD:-}" ]; then
    base="$MCK_DOWNLOAD"
elif [ "$version" = latest ]; then
    base="https://github.com/$repo/releases/latest/download"
else
    base="https://github.com/$repo/releases/download/$version"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT INT TERM
fetch() {
    curl --proto '=https,file' --tlsv1.2 -fsSL "$1" -o "$2" || fail "could not download $1"
}
fetch "$base/$asset" "$tmp/$asset"
fetch "$base/$asset.sha256" "$tmp/$asset.sha256"

want="$(cut -d ' ' -f 1 <"$tmp/$asset.sha256")"
if command -v sha256sum >/dev/null 2>&1; then
    have="$(sha256sum "$tmp/$asset" | cut -d ' ' -f 1)"
else
    have="$(shasum -a 256 "$tmp/$asset" | cut -d ' ' -f 1)"
fi
[ -n "$want" ] && [ "$want" = "$have" ] || fail "checksum mismatch for $asset (expected $want, got $have); nothing was installed"

tar -xzf "$tmp/$asset" -C "$tmp"
[ -f "$tmp/mck" ] || fail "$asset holds no mck binary"
mkdir -p "$dir"
install -m 0755 "$tmp/mck" "$dir/mck"
echo "mck install: $("$dir/mck" --version) installed in $dir"
case ":$PATH:" in
    *":$dir:"*) ;;
    *) echo "mck install: add $dir to your PATH" ;;
esac
