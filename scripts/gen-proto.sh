#!/usr/bin/env bash
# Regenerates Sources/FlowwatchAPI (Swift messages and gRPC stubs) from proto/.
#
#   scripts/gen-proto.sh
#
# Needs protoc (Debian's protobuf-compiler, which also brings google/protobuf/*.proto) and the
# plugins protoc-gen-swift and protoc-gen-grpc-swift-2, which this script builds once from the
# same swift-protobuf and grpc-swift-protobuf versions that Package.swift uses, in
# .build-protoc/ (gitignored; the first build takes a few minutes). The generated code is
# committed, so building flowwatch needs none of this.
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT_PROTOBUF_VERSION=1.39.0
GRPC_SWIFT_PROTOBUF_VERSION=2.4.1
TOOLS=.build-protoc/tools
OUT=Sources/FlowwatchAPI

command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }

mkdir -p "$TOOLS"
cat > "$TOOLS/Package.swift" <<SWIFT
// swift-tools-version:6.0
// Builds the protoc plugins for scripts/gen-proto.sh; not part of flowwatch.
import PackageDescription
let package = Package(
    name: "protoc-plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", exact: "$SWIFT_PROTOBUF_VERSION"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", exact: "$GRPC_SWIFT_PROTOBUF_VERSION"),
    ],
    targets: []
)
SWIFT
(cd "$TOOLS" && swift build -q --product protoc-gen-swift && swift build -q --product protoc-gen-grpc-swift-2)
BIN=$(cd "$TOOLS" && swift build --show-bin-path)

rm -rf "$OUT/Generated"
mkdir -p "$OUT/Generated"
# Messages of every file; gRPC stubs of the one file with a service.
protoc -I proto --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
    --swift_out="$OUT/Generated" --swift_opt=Visibility=Public \
    proto/flow/flow.proto proto/relay/relay.proto proto/observer/observer.proto
protoc -I proto --plugin=protoc-gen-grpc-swift="$BIN/protoc-gen-grpc-swift-2" \
    --grpc-swift_out="$OUT/Generated" --grpc-swift_opt=Visibility=Public,Client=true,Server=true \
    proto/observer/observer.proto
echo "generated:" $(cd "$OUT/Generated" && find . -name '*.swift' | sort)
