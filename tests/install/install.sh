# Packaging test: configure and build privtrack from the source tree into a
# scratch build directory, `cmake --install` it into a temporary prefix, then
# build and run programs against the installed copy only:
#   - with find_package(privtrack) -> privtrack::privtrack (and the static
#     privtrack::privtrack_static),
#   - with pkg-config privtrack.pc,
#   - the C example from README.md, with pkg-config,
# and run the installed privtrack command with the installed policies.
set -euo pipefail
SRC="${2:?usage: $0 PRIVTRACK SOURCE_DIR BUILD_DIR}"
BUILD="${3:?}"
mkdir -p "$BUILD/e2e-tmp"
WORK="$(mktemp -d "$BUILD/e2e-tmp/install.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"
fail() { echo "FAIL [install]: $*" >&2; exit 1; }
# Libraries a program loads.  (Captured, not piped into `grep -q`: with
# pipefail, grep's early exit can fail the pipeline through SIGPIPE.)
loads() { local deps; deps="$(ldd "$1")"; grep -q -- "$2" <<<"$deps"; }

echo "== configure + build (Release, no tests) in $WORK/build"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
    -DPT_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$PREFIX" >"$WORK/configure.log" ||
    { cat "$WORK/configure.log"; fail "configure"; }
cmake --build "$WORK/build" -j2 >"$WORK/build.log" 2>&1 ||
    { tail -50 "$WORK/build.log"; fail "build"; }
echo "== install into $PREFIX"
cmake --install "$WORK/build" >"$WORK/install.log" || { cat "$WORK/install.log"; fail "install"; }
LIBDIR="$(ls -d "$PREFIX"/lib*/pkgconfig | head -1)"
LIBDIR="${LIBDIR%/pkgconfig}"
for f in include/privtrack.h bin/privtrack share/privtrack/policy/default.ini; do
    [ -e "$PREFIX/$f" ] || fail "missing $f"
done
for f in libprivtrack.so libprivtrack.a pkgconfig/privtrack.pc \
    cmake/privtrack/privtrackConfig.cmake cmake/privtrack/privtrackConfigVersion.cmake; do
    [ -e "$LIBDIR/$f" ] || fail "missing $LIBDIR/$f"
done
soname="$(objdump -p "$LIBDIR/libprivtrack.so" | awk '/SONAME/ {print $2}')"
[[ "$soname" =~ ^libprivtrack\.so\.[0-9]+$ ]] || fail "SONAME is '$soname'"
# Only pt_ symbols are exported (hidden visibility works).
bad="$(nm -D --defined-only "$LIBDIR/libprivtrack.so" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^pt_' | grep -v '^_' || true)"
[ -z "$bad" ] || fail "exported symbols without the pt_ prefix: $bad"
symbols="$(nm -D --defined-only "$LIBDIR/libprivtrack.so")"
grep -q ' pt__' <<<"$symbols" && fail "internal pt__ symbols are exported"

echo "== find_package(privtrack)"
cmake -S "$SRC/tests/install/consumer" -B "$WORK/consumer" \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_BUILD_TYPE=Release >"$WORK/consumer.log" ||
    { cat "$WORK/consumer.log"; fail "consumer configure"; }
cmake --build "$WORK/consumer" -j2 >>"$WORK/consumer.log" 2>&1 ||
    { cat "$WORK/consumer.log"; fail "consumer build"; }
"$WORK/consumer/consumer_shared" | tee "$WORK/out.txt"
grep -q '^privtrack [0-9.]*, policy default-' "$WORK/out.txt" || fail "consumer_shared output"
loads "$WORK/consumer/consumer_shared" "$LIBDIR/libprivtrack.so" || fail "consumer_shared does not use the installed library"
"$WORK/consumer/consumer_static" "$PREFIX/share/privtrack/policy/default.ini"
loads "$WORK/consumer/consumer_static" libprivtrack && fail "consumer_static links the shared library"

echo "== pkg-config privtrack"
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
[ "$(pkg-config --modversion privtrack)" = "$("$PREFIX/bin/privtrack" version | cut -d' ' -f2)" ] ||
    fail "privtrack.pc version differs from the command's"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$WORK/pc_consumer" "$SRC/tests/install/consumer/consumer.c" \
    $(pkg-config --cflags --libs privtrack) -Wl,-rpath,"$LIBDIR"
"$WORK/pc_consumer"
loads "$WORK/pc_consumer" "$LIBDIR/libprivtrack.so" || fail "pc_consumer does not use the installed library"
# Static, through pkg-config's private libraries.
# shellcheck disable=SC2046
cc -std=c11 -DPT_STATIC -o "$WORK/pc_static" "$SRC/tests/install/consumer/consumer.c" \
    $(pkg-config --cflags privtrack) "$LIBDIR/libprivtrack.a" \
    $(pkg-config --static --libs-only-l privtrack | sed 's/-lprivtrack//')
"$WORK/pc_static"

echo "== the C example in README.md"
/usr/bin/python3 - "$SRC/README.md" "$WORK/example.c" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```c\n(.*?)```", text, re.S)
assert blocks, "README.md has no ```c block"
open(sys.argv[2], "w").write(blocks[0])
PY
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$WORK/example" "$WORK/example.c" \
    $(pkg-config --cflags --libs privtrack) -Wl,-rpath,"$LIBDIR"
(cd "$WORK" && ./example >example.out 2>&1) || { cat "$WORK/example.out"; fail "README example"; }
cat "$WORK/example.out"

echo "== the installed command"
(cd "$WORK" && "$PREFIX/bin/privtrack" policy check "$PREFIX"/share/privtrack/policy/*.ini)
echo "install: all checks passed"
