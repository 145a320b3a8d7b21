# vktrain convenience targets. `make` == `make build`.
JOBS ?= 2

.PHONY: build setup demo test clean
.DEFAULT_GOAL := build

setup:
	./scripts/setup

build: setup
	@test -f build/CMakeCache.txt || cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
	cmake --build build -j$(JOBS)

demo: build
	./build/vktrain doctor
	./build/vktrain demo

test: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

clean:
	rm -rf build
