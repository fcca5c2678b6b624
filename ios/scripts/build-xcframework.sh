#!/usr/bin/env bash
# Builds LianxiaoFFI.xcframework (the Rust core as static libraries for iPhones and both
# simulator architectures) and copies the matching generated Swift into Sources/Lianxiao.
#
#   ios/scripts/build-xcframework.sh            # release-mobile profile (size-tuned)
#   PROFILE=dev ios/scripts/build-xcframework.sh  # quicker debug build
#   ios/scripts/build-xcframework.sh --zip      # also LianxiaoFFI.xcframework.zip + checksum
#
# Needs macOS with Xcode (xcodebuild, lipo) and rustup.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
IOS="$ROOT/ios"
PROFILE="${PROFILE:-release-mobile}"
CRATE="lianxiao-ffi"
LIB="liblianxiao_ffi.a"
FFI_MODULE="LianxiaoFFI"
DEVICE="aarch64-apple-ios"
SIMULATORS=(aarch64-apple-ios-sim x86_64-apple-ios)
# Matches Package.swift's platforms; without it rustc targets an older iOS and the linker warns.
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"

# cargo's folder name for a profile: dev builds land in debug/.
if [[ "$PROFILE" == "dev" ]]; then OUT_DIR="debug"; else OUT_DIR="$PROFILE"; fi

cd "$ROOT"

echo "==> rustup targets"
rustup target add "$DEVICE" "${SIMULATORS[@]}"

echo "==> cargo build --profile $PROFILE -p $CRATE"
for target in "$DEVICE" "${SIMULATORS[@]}"; do
    cargo build --profile "$PROFILE" -p "$CRATE" --lib --target "$target"
done

BUILD="$ROOT/target/ios"
rm -rf "$BUILD"
mkdir -p "$BUILD/simulator" "$BUILD/headers/$FFI_MODULE" "$BUILD/swift"

echo "==> lipo the simulator libraries"
lipo -create \
    "$ROOT/target/${SIMULATORS[0]}/$OUT_DIR/$LIB" \
    "$ROOT/target/${SIMULATORS[1]}/$OUT_DIR/$LIB" \
    -output "$BUILD/simulator/$LIB"

echo "==> Swift bindings (the workspace's uniffi-bindgen, same uniffi version as the library)"
# Library mode reads the interface from the library itself; the device build has the same
# interface as every other target.
cargo run --quiet -p uniffi-bindgen -- generate \
    "$ROOT/target/$DEVICE/$OUT_DIR/$LIB" \
    --language swift --no-format --out-dir "$BUILD/swift"

echo "==> headers and module map"
# Inside a folder named after the module: Xcode merges the Headers of every XCFramework in an
# app into one directory, where two top-level module.modulemap files would collide.
cp "$BUILD/swift/$FFI_MODULE.h" "$BUILD/headers/$FFI_MODULE/"
# The generated module map, under the name Clang looks for.
cp "$BUILD/swift/$FFI_MODULE.modulemap" "$BUILD/headers/$FFI_MODULE/module.modulemap"

echo "==> xcodebuild -create-xcframework"
rm -rf "$IOS/$FFI_MODULE.xcframework"
xcodebuild -create-xcframework \
    -library "$ROOT/target/$DEVICE/$OUT_DIR/$LIB" -headers "$BUILD/headers" \
    -library "$BUILD/simulator/$LIB" -headers "$BUILD/headers" \
    -output "$IOS/$FFI_MODULE.xcframework"

echo "==> Swift sources into Sources/Lianxiao"
find "$IOS/Sources/Lianxiao" -name '*.swift' -delete
cp "$BUILD"/swift/*.swift "$IOS/Sources/Lianxiao/"

if [[ "${1:-}" == "--zip" ]]; then
    echo "==> zip for a remote binaryTarget"
    (cd "$IOS" && rm -f "$FFI_MODULE.xcframework.zip" && zip -qry "$FFI_MODULE.xcframework.zip" "$FFI_MODULE.xcframework")
    echo "checksum: $(cd "$IOS" && swift package compute-checksum "$FFI_MODULE.xcframework.zip")"
fi

echo "Done: $IOS/$FFI_MODULE.xcframework and Sources/Lianxiao/$(cd "$BUILD/swift" && ls *.swift)"
