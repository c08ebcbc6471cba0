#!/usr/bin/env bash
# Platforms proven, not reasoned: what this crate claims about Windows, macOS
# and its minimum Rust version, checked on a Debian 12 x86_64 machine.
#
#   1. Rust 1.85 (the MSRV, Debian's `rustc-web`/`cargo-web` in /usr/bin):
#      `cargo test --workspace --locked`, every test (the real-signal Ctrl-C
#      scenarios included) but the one that pins rustc's own error messages.
#   2. Windows (x86_64-pc-windows-gnu, std built from Debian's `rust-web-src`
#      with -Z build-std, linked by mingw-w64): the library, every test binary
#      and all examples build without a warning; every test binary runs under
#      Wine 8; `examples/ctrl_c` and `examples/server` get a Ctrl-C through
#      the console control handler (`kill -INT` to the Wine process).
#   3. macOS (x86_64 and aarch64): the library, tests and examples type-check.
#
# Called by .ci/run. Installs what it needs by package name (apt-get, only
# what is missing). Elsewhere (another OS, another distribution, GitHub's
# runners) it says so and does nothing. RUNNER_SKIP_PLATFORMS=1 skips it for
# quick local loops; CI never sets it. Builds go to target/platforms/, apart
# from the main build. Any failing step fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf 'platforms: %s\n' "$*"; }
fail() {
    printf 'platforms: FAILED: %s\n' "$*" >&2
    exit 1
}
step() {
    step_name=$1
    step_start=$SECONDS
    say "== $step_name"
}
step_done() { say "== $step_name: ok ($((SECONDS - step_start)) s)"; }

if [ "${RUNNER_SKIP_PLATFORMS:-}" = 1 ]; then
    say "skipped: RUNNER_SKIP_PLATFORMS=1"
    exit 0
fi
distro=$(. /etc/os-release 2>/dev/null && echo "${ID:-?} ${VERSION_ID:-?}" || echo "no /etc/os-release")
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ] || [ "$distro" != "debian 12" ] ||
    ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    say "skipped: needs Debian 12 on x86_64 with apt-get (here: $(uname -s) $(uname -m), $distro)"
    exit 0
fi

# --- packages --------------------------------------------------------------
# rustc-web, cargo-web, libstd-rust-web-dev: Debian's Rust in /usr/bin, held
# at the MSRV's version (bookworm-security also serves a newer one, which a
# plain install would take); rust-web-src: std's sources, for -Z build-std
# (no Windows or macOS std is packaged); gcc-mingw-w64-x86-64-posix: the
# Windows linker, C runtime and the ProcessPrng stand-in's compiler; wine64:
# runs the Windows binaries; python3: reads cargo's JSON messages
# (scripts/platforms_build.py).
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
rust_packages=(rustc-web cargo-web libstd-rust-web-dev rust-web-src)
other_packages=(gcc-mingw-w64-x86-64-posix wine64 python3)
installed() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'; }
# The archive's version of rustc-web for the MSRV, if it still has one.
msrv_version() { apt-cache madison rustc-web 2>/dev/null | awk -v v="$msrv." '{ if (index($3, v) == 1) { print $3; exit } }'; }
step "packages"
missing=()
for p in "${rust_packages[@]}"; do
    case "$(installed "$p")" in "$msrv".*) ;; *) missing+=("$p") ;; esac
done
for p in "${other_packages[@]}"; do
    [ -n "$(installed "$p")" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
            fail "missing packages (${missing[*]}) and no root to install them"
        sudo=(sudo -n)
    fi
    # A fresh machine may have no package lists, or stale ones.
    version=$(msrv_version)
    if [ -z "$version" ]; then
        "${sudo[@]}" apt-get update -q >/dev/null || fail "apt-get update"
        version=$(msrv_version)
    fi
    [ -n "$version" ] ||
        fail "Debian's archive has no rustc-web $msrv any more ($(apt-cache madison rustc-web | awk '{print $3}' | tr '\n' ' ')): the MSRV cannot be checked here"
    wanted=()
    for p in "${missing[@]}"; do
        case " ${rust_packages[*]} " in *" $p "*) wanted+=("$p=$version") ;; *) wanted+=("$p") ;; esac
    done
    say "installing: ${wanted[*]}"
    install=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
        --no-install-recommends --allow-downgrades "${wanted[@]}")
    "${install[@]}" >/dev/null ||
        { "${sudo[@]}" apt-get update -q >/dev/null && "${install[@]}" >/dev/null; } ||
        fail "apt-get could not install ${wanted[*]}"
else
    say "all installed: ${rust_packages[*]} ($msrv) ${other_packages[*]}"
fi
step_done

cargo=/usr/bin/cargo
# Debian's, not rustup's (PATH may put ~/.cargo/bin first).
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
have=$("$RUSTC" --version)
[ "$("$RUSTDOC" --version | cut -d" " -f2)" = "$(echo "$have" | cut -d" " -f2)" ] || fail "rustdoc and rustc differ"
case "$have" in
"rustc $msrv."*) say "$have (the MSRV is $msrv)" ;;
*) fail "Debian's rustc-web is '$have', not the MSRV $msrv: update the MSRV or this script" ;;
esac
export CARGO_TERM_COLOR=never
# No debug info and no incremental state in these builds: they are built and
# run, never debugged here, and with both their target dirs took 12 GB of a
# disk that a cold .ci/run once filled (and they build faster without).
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0

# --- 1. the MSRV ---------------------------------------------------------
# Every test but one: macros/tests/ui.rs pins the compiler's own error text
# (`.stderr` files, checked by .ci/run's `cargo test` on the current stable),
# and rustc 1.85 points two type errors the macros cannot word at other
# spans. `--exact --skip ui` leaves out that test alone, and is given to the
# macros crate only: tests/sigint's own harness takes any word for a filter
# (given `ui`, it ran none of its scenarios).
step "Rust $msrv: cargo test --workspace --locked (all but the pinned compiler messages)"
export CARGO_TARGET_DIR="$root/target/platforms/msrv"
"$cargo" test --workspace --locked --exclude asyncio-runner-macros
"$cargo" test -p asyncio-runner-macros --locked -- --exact --skip ui
unset CARGO_TARGET_DIR
step_done

# --- 2. Windows ----------------------------------------------------------
win=x86_64-pc-windows-gnu
out="$root/target/platforms/cross"
rt="$out/rtstartup-$win"
src=$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library
[ -d "$src/std" ] || fail "no std sources at $src (rust-web-src)"
# Unstable cargo and rustc flags (-Z build-std) on this stable 1.85.
export RUSTC_BOOTSTRAP=1
build_std=(-Z build-std=std,panic_unwind,test)

step "Windows: build the library, tests and examples ($win)"
# The startup objects a windows-gnu link puts around everything, which a
# rustup target would ship; found through -L native.
mkdir -p "$rt"
for f in rsbegin rsend; do
    if [ ! -s "$rt/$f.o" ] || [ "$src/rtstartup/$f.rs" -nt "$rt/$f.o" ]; then
        "$RUSTC" --target "$win" --emit=obj -o "$rt/$f.o" "$src/rtstartup/$f.rs"
    fi
done
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc-posix
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS="-L native=$rt"
# `cargo test --no-run` builds the library's and every integration test's
# test binary and all examples.
CARGO_TARGET_DIR="$out" "$cargo" test --locked "${build_std[@]}" --target "$win" \
    -p asyncio-runner --no-run --message-format=json >"$out/windows-build.json" || build_rc=$?
# Every diagnostic of this repository's code, printed; a warning fails.
python3 scripts/platforms_build.py "$out/windows-build.json" >"$out/windows-tests.txt" &&
    [ "${build_rc:-0}" = 0 ] || fail "the Windows build"
[ -s "$out/windows-tests.txt" ] || fail "the Windows build made no test binary"
step_done

step "Windows: Wine prefix and the ProcessPrng stand-in"
wine=/usr/lib/wine/wine64
export WINEPREFIX="$out/wine-prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
wine_dll="$out/bcryptprimitives.dll"
x86_64-w64-mingw32-gcc-posix -shared -O2 -s -Wall -Wextra -Werror \
    -o "$wine_dll" scripts/wine/bcryptprimitives.c -ladvapi32
# One server for every run below (a server that exits between two runs can
# reset a starting client's connection), stopped when this script ends.
mkdir -p "$WINEPREFIX"
/usr/lib/wine/wineserver -p
trap '/usr/lib/wine/wineserver -k 2>/dev/null || true' EXIT
[ -d "$WINEPREFIX/drive_c/windows/system32" ] || "$wine" wineboot --init >/dev/null 2>&1 || true
[ -d "$WINEPREFIX/drive_c/windows/system32" ] || fail "could not make the Wine prefix $WINEPREFIX"
cp "$wine_dll" "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
step_done

step "Windows: every test binary under Wine"
failed=()
while read -r name exe; do
    log="$out/wine-$name.log"
    # A real-clock bound on a whole binary (the slowest takes seconds): a
    # hang fails the step instead of holding CI.
    if timeout 600 "$wine" "$exe" >"$log" 2>&1; then rc=0; else rc=$?; fi
    summary=$(grep -E '^test result:|^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
    say "  $name: exit $rc; ${summary:-no summary}"
    if [ "$rc" != 0 ]; then
        failed+=("$name")
        tail -n 30 "$log" >&2
    fi
done <"$out/windows-tests.txt"
[ ${#failed[@]} -eq 0 ] || fail "under Wine: ${failed[*]}"
step_done

step "Windows: Ctrl-C through the console control handler"
examples="$out/$win/debug/examples"
# Waits until $1's file has a line matching $2 (the program is ready).
wait_for() {
    for _ in $(seq 600); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no '$2' in $1 after 60 s: $(cat "$1")"
}
# examples/ctrl_c: a press cancels the main task, its cleanup runs, exit 130.
log="$out/wine-ctrl_c.log"
"$wine" "$examples/ctrl_c.exe" >"$log" 2>&1 &
pid=$!
wait_for "$log" '^tick 1$'
kill -INT "$pid"
if wait "$pid"; then rc=0; else rc=$?; fi
grep -q '^cleanup: [0-9]* tick(s) done' "$log" && grep -q '^goodbye$' "$log" && [ "$rc" = 130 ] ||
    fail "ctrl_c: exit $rc, wanted 130 after its cleanup: $(cat "$log")"
say "  ctrl_c: cleanup ran, exit 130"
# examples/server: a press drains the open connection (it is told goodbye),
# exit 0.
log="$out/wine-server.log"
"$wine" "$examples/server.exe" >"$log" 2>&1 &
pid=$!
wait_for "$log" '^listening on 127\.0\.0\.1:[0-9]+$'
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
exec 3<>"/dev/tcp/127.0.0.1/$port"
echo ping >&3
read -r -t 60 echoed <&3 || fail "server: no echo"
[ "$echoed" = ping ] || fail "server echoed '$echoed'"
kill -INT "$pid"
read -r -t 60 goodbye <&3 || fail "server: no goodbye on Ctrl-C: $(cat "$log")"
exec 3>&-
if wait "$pid"; then rc=0; else rc=$?; fi
[ "$goodbye" = "server shutting down, goodbye" ] && grep -q '^drained 1 connection(s)$' "$log" &&
    [ "$rc" = 0 ] || fail "server: exit $rc, wanted 0 after draining 1 connection: $(cat "$log")"
say "  server: drained its connection, exit 0"
step_done

# --- 3. macOS ------------------------------------------------------------
step "macOS: type-check the library, tests and examples"
CARGO_TARGET_DIR="$out" "$cargo" check --locked "${build_std[@]}" \
    --target x86_64-apple-darwin --target aarch64-apple-darwin \
    -p asyncio-runner --lib --tests --examples --message-format=json >"$out/macos-check.json" ||
    check_rc=$?
python3 scripts/platforms_build.py "$out/macos-check.json" >/dev/null &&
    [ "${check_rc:-0}" = 0 ] || fail "the macOS type-check"
step_done

say "all proven: Rust $msrv tests, Windows build and tests under Wine, Ctrl-C on Windows, macOS type-check"
