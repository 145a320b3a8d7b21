# vktrain convenience targets. `make` == `make build`.
JOBS ?= 2

.PHONY: build setup demo test clean fuzz fuzz-smoke coopmat-lane
.DEFAULT_GOAL := build

setup:
	./scripts/setup

build: setup
	@test -f build/CMakeCache.txt || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVKTRAIN_UNITY_BUILD=ON
	cmake --build build -j$(JOBS)

demo: build
	./build/vktrain doctor
	./build/vktrain demo

test: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

# The cooperative-matrix tests on a newer Debian's lavapipe that has them (scripts/coopmat_lane).
coopmat-lane: build
	scripts/coopmat_lane

# libFuzzer harnesses of the file parsers, built with clang's sanitizers into build-fuzz/
# (host libraries only); fuzz-smoke runs each for FUZZ_SECONDS (README "Tests").
FUZZ_SECONDS ?= 25
fuzz: setup
	@test -f build-fuzz/CMakeCache.txt || cmake -S . -B build-fuzz -DVKTRAIN_FUZZ=ON \
	  -DCMAKE_CXX_COMPILER=clang++-14 -DVKTRAIN_UNITY_BUILD=ON
	cmake --build build-fuzz -j$(JOBS)

fuzz-smoke: fuzz
	tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-fuzz
