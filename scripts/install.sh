#!/bin/sh
# Installs a released herald binary: downloads herald-VERSION-TARGET.tar.gz and the release's
# SHA256SUMS, refuses the archive unless its SHA-256 is the one listed, and puts `herald` in a
# directory. The GitHub action (action.yml) and the GitLab template (templates/herald.yml) run
# it; so can a person, after reading it (no `curl | sh` needed):
#
#   sh scripts/install.sh --repository your-org/herald --version v0.1.0 --dir ~/.local/bin
#
# Options (each also read from the environment variable named):
#   --version V         v0.1.0, 0.1.0 or latest (HERALD_VERSION; default latest)
#   --dir DIR           where herald goes (HERALD_INSTALL_DIR; default ~/.local/bin)
#   --repository O/N    the GitHub repository whose releases to use (HERALD_REPOSITORY)
#   --releases-url URL  where the releases are instead (HERALD_RELEASES_URL; default
#                       https://github.com/O/N/releases): files are read from
#                       URL/download/vVERSION/FILE, and URL/latest/download/SHA256SUMS
#                       names the latest version
#   --target T          the build to install (default: this machine's OS and CPU)
#   --print             print version=, target= and archive= lines (version resolved) and stop
#
# Needs: sh, uname, tar, gzip, curl or wget, and sha256sum or shasum.
set -eu

die() {
    echo "error: $1" >&2
    if [ -n "${2:-}" ]; then
        echo "help: $2" >&2
    fi
    exit 1
}

version=${HERALD_VERSION:-}
dir=${HERALD_INSTALL_DIR:-}
repository=${HERALD_REPOSITORY:-}
releases_url=${HERALD_RELEASES_URL:-}
target=
print=false

while [ $# -gt 0 ]; do
    case $1 in
        --version | --dir | --repository | --releases-url | --target)
            [ $# -ge 2 ] || die "$1 needs a value"
            case $1 in
                --version) version=$2 ;;
                --dir) dir=$2 ;;
                --repository) repository=$2 ;;
                --releases-url) releases_url=$2 ;;
                --target) target=$2 ;;
            esac
            shift 2
            ;;
        --print)
            print=true
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *) die "unknown option $1" "run \`$0 --help\` for the options" ;;
    esac
done

from_source="build it from source instead: cargo install --locked --git https://github.com/${repository:-OWNER/herald} herald"

# The release's name for this machine: the four builds a release has.
if [ -z "$target" ]; then
    os=$(uname -s)
    arch=$(uname -m)
    case $arch in
        x86_64 | amd64) arch=x86_64 ;;
        aarch64 | arm64) arch=aarch64 ;;
        *) die "herald has no release binary for the CPU $arch (only x86_64 and aarch64)" "$from_source" ;;
    esac
    case $os in
        Linux) target=$arch-unknown-linux-musl ;;
        Darwin) target=$arch-apple-darwin ;;
        *) die "herald has no release binary for the OS $os (only Linux and macOS)" "$from_source" ;;
    esac
fi

if [ -z "$releases_url" ]; then
    [ -n "$repository" ] || die "no repository to download herald from" \
        "name it with --repository OWNER/NAME or HERALD_REPOSITORY (or --releases-url URL)"
    releases_url=https://github.com/$repository/releases
fi
releases_url=${releases_url%/}

# Downloads $1 to the file $2; fails on an HTTP error.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl --fail --silent --show-error --location --retry 3 --output "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget --quiet --tries=3 --output-document="$2" "$1"
    else
        die "neither curl nor wget is installed" "install one of them"
    fi
}

# The SHA-256 of the file $1, in hex.
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d ' ' -f 1
    else
        die "neither sha256sum nor shasum is installed: the download cannot be checked" \
            "install coreutils (sha256sum) or perl (shasum)"
    fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM

case ${version:-latest} in
    latest)
        fetch "$releases_url/latest/download/SHA256SUMS" "$work/SHA256SUMS" ||
            die "cannot download the latest release's SHA256SUMS from $releases_url" \
                "check the repository's name, or pass --version"
        # The latest version is the one its archive for this target is named with.
        version=$(sed -n "s/^[0-9a-f]\{64\} [ *]herald-\(.*\)-$target\.tar\.gz\$/\1/p" "$work/SHA256SUMS" | head -n 1)
        [ -n "$version" ] || die "the latest release has no herald for $target" "$from_source"
        ;;
    *)
        version=${version#v}
        ;;
esac
archive=herald-$version-$target.tar.gz

if $print; then
    printf 'version=%s\ntarget=%s\narchive=%s\n' "$version" "$target" "$archive"
    exit 0
fi

dir=${dir:-${HOME:?}/.local/bin}
if [ -x "$dir/herald" ] && [ "$("$dir/herald" --version 2>/dev/null || true)" = "herald $version" ]; then
    echo "herald $version is already installed in $dir"
    exit 0
fi

base=$releases_url/download/v$version
if [ ! -s "$work/SHA256SUMS" ]; then
    fetch "$base/SHA256SUMS" "$work/SHA256SUMS" ||
        die "cannot download $base/SHA256SUMS" "check that release v$version exists"
fi
expected=$(awk -v file="$archive" '$2 == file || $2 == "*" file { print $1; exit }' "$work/SHA256SUMS")
[ -n "$expected" ] || die "release v$version has no $archive (SHA256SUMS does not list it)" "$from_source"
fetch "$base/$archive" "$work/$archive" || die "cannot download $base/$archive"
actual=$(sha256 "$work/$archive")
if [ "$actual" != "$expected" ]; then
    die "checksum mismatch for $archive: SHA256SUMS says $expected, the download is $actual; nothing was installed" \
        "the download was corrupted or tampered with: try again, and report it if it persists"
fi

tar -xzf "$work/$archive" -C "$work"
binary=$work/herald-$version-$target/herald
[ -f "$binary" ] || die "$archive holds no herald-$version-$target/herald"
mkdir -p "$dir"
# Copied beside its final name and renamed over it, so a running herald is never half-written.
cp "$binary" "$dir/.herald.$$"
chmod 755 "$dir/.herald.$$"
mv -f "$dir/.herald.$$" "$dir/herald"
echo "installed herald $version ($target) in $dir, SHA-256 checked"
case :${PATH:-}: in
    *:"$dir":*) ;;
    *) echo "note: $dir is not on PATH" ;;
esac
