# Front door: `make demo`, `make test`. Everything else is CMake.
DEBIAN_PACKAGES := build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev \
  libsqlite3-dev liblua5.4-dev lua-cjson-dev libssl-dev libmimalloc-dev sqlite3 lua-check
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build build-asan test demo bench clean

all: build

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)

test: build build-asan
	cd build && ctest --output-on-failure -j $(JOBS) --timeout 300
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 300

demo: build
	./tests/demo.sh

bench: build
	./build/cartwright run tests/bench/http.lua
	./build/cartwright run tests/bench/import.lua

clean:
	rm -rf build build-asan
