#!/usr/bin/env bash
# Regenerates the committed message code of the examples from Examples/*/Protos:
# Swift (swift-protobuf) for the examples, Python for their reference twins in the tests,
# and a swift-protobuf codec of the wire schema for the SDK tests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc is missing: run scripts/install-deps.sh" >&2; exit 1; }

# protoc-gen-swift from the swift-protobuf version the package resolved.
plugin=.build-protoc/release/protoc-gen-swift
if [ ! -x "$plugin" ]; then
  swift package resolve
  swift build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build-protoc \
    --product protoc-gen-swift
fi


for example in Examples/*/; do
  name=$(basename "$example")
  [ -d "$example/Protos" ] || continue
  mkdir -p "$example/Python"
  protos=$(cd "$example/Protos" && ls *.proto)
  (cd "$example/Protos" && protoc --plugin=protoc-gen-swift="$OLDPWD/$plugin" \
     --swift_opt=Visibility=Public --swift_opt=UseAccessLevelOnImports=true --swift_out="$OLDPWD/$example/Sources/$name" $protos)
  (cd "$example/Protos" && protoc --python_out="$OLDPWD/$example/Python" $protos)
done
# An independent (swift-protobuf) codec of the wire schema, for the SDK's tests.
tests_out=Tests/StatefulFunctionsTests/Generated
rm -rf "$tests_out" && mkdir -p "$tests_out"
(cd Protos && protoc --plugin=protoc-gen-swift="$OLDPWD/$plugin" --swift_opt=UseAccessLevelOnImports=true \
   --swift_opt=FileNaming=PathToUnderscores --swift_out="$OLDPWD/$tests_out" statefun/v2/*.proto statefun/v3/*.proto)

# statefun-local's tests: every kind of field, to check its JSON encoder against swift-protobuf.
(cd Tests/StatefunLocalTests/Protos && protoc -I . -I /usr/include --plugin=protoc-gen-swift="$OLDPWD/$plugin" \
   --swift_opt=UseAccessLevelOnImports=true --swift_out="$OLDPWD/Tests/StatefunLocalTests/Generated" everything.proto)

# The messages the README's blocks name, so that they compile as written (Tests/ReadmeSnippets).
(cd Tests/ReadmeSnippets/Protos && protoc --plugin=protoc-gen-swift="$OLDPWD/$plugin" --swift_opt=Visibility=Public \
   --swift_opt=UseAccessLevelOnImports=true --swift_out="$OLDPWD/Tests/ReadmeSnippets/Messages" readme.proto)

echo "generated: $(ls Examples/*/Sources/*/*.pb.swift Examples/*/Python/*_pb2.py | wc -l) files"
