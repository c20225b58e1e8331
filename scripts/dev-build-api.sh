#!/usr/bin/env bash
# Builds the API routes and their unit tests (and objects_test) outside the
# shared CMake targets, so src/manager/api can be iterated on independently.
# Needs build/libshoal_{store,common,http}.a (cmake --build build --target shoal_store).
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/dev-api
mkdir -p "$out"
CXX="${CXX:-g++}"
FLAGS=(-std=c++20 -O0 -g -Wall -Wextra -Wno-unused-parameter -Isrc)
LIBS=(build/libshoal_store.a build/libshoal_http.a build/libshoal_common.a -lgtest_main -lgtest -lpthread -lssl -lcrypto)
srcs=(src/manager/api/*.cc src/manager/scheduler/scheduler.cc)
objs=()
for s in "${srcs[@]}"; do
  o="$out/$(echo "$s" | tr / _).o"
  if [[ ! -f "$o" || "$s" -nt "$o" || -n "$(find src/manager/api src/store/objects.h src/store/store.h -newer "$o" -name '*.h' 2>/dev/null | head -1)" ]]; then
    echo "CXX $s"
    "$CXX" "${FLAGS[@]}" -c "$s" -o "$o" &
  fi
  objs+=("$o")
done
wait
"$CXX" "${FLAGS[@]}" -o "$out/api_test" "${objs[@]}" "${LIBS[@]}"
if [[ -f src/store/objects_test.cc ]]; then
  "$CXX" "${FLAGS[@]}" -o "$out/objects_test" src/store/objects_test.cc "${LIBS[@]}"
fi
echo "built $out/api_test ${out}/objects_test"
