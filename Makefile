# Front door: `make demo`, `make test`. Everything else is CMake.
DEBIAN_PACKAGES := build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev \
  libsqlite3-dev liblua5.4-dev lua-cjson-dev libssl-dev libmimalloc-dev sqlite3 lua-check
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# Fuzzing (make fuzz): clang with libFuzzer, installed by deps only when a fuzz target asks.
FUZZ_PACKAGES := clang libclang-rt-dev
FUZZ_TARGETS := jsonraw urlcode config patterns
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-fuzz test fuzz fuzz-merge demo bench install clean

all: build

deps:
	@missing=""; for p in $(DEBIAN_PACKAGES) $(EXTRA_PACKAGES); do \
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

# The fuzz targets of tests/fuzz with libFuzzer, ASan and UBSan (see tests/fuzz/README.md).
build-fuzz: EXTRA_PACKAGES = $(FUZZ_PACKAGES)
build-fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCW_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# Each target for FUZZ_SECONDS from its committed corpus; what it finds new goes to
# build-fuzz/corpus/<target>, a crash to build-fuzz/<target>-crash-*. A small ASan quarantine:
# with the default one, fuzz_config (a 16 MiB Lua heap filled and freed over and over) grows
# to ~1.7 GB and nears the RSS limit.
fuzz: build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-quarantine_size_mb=16} build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=2048 \
	    -artifact_prefix=build-fuzz/$$t- $$(test -f tests/fuzz/$$t.dict && echo -dict=tests/fuzz/$$t.dict) \
	    build-fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Minimizes the committed corpora with what the runs found (libFuzzer -merge=1): the seed-*
# files stay, and of the others only those that reach new edges (hit counts and comparison
# features are not counted, which keeps each corpus to a few hundred files).
fuzz-merge: build-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf build-fuzz/merged/$$t && mkdir -p build-fuzz/merged/$$t build-fuzz/corpus/$$t; \
	  cp tests/fuzz/corpus/$$t/seed-* build-fuzz/merged/$$t/; \
	  build-fuzz/fuzz_$$t -merge=1 -use_counters=0 -use_cmp=0 -use_memmem=0 -timeout=30 build-fuzz/merged/$$t tests/fuzz/corpus/$$t build-fuzz/corpus/$$t || exit 1; \
	  rm -f tests/fuzz/corpus/$$t/* && cp build-fuzz/merged/$$t/* tests/fuzz/corpus/$$t/; \
	  echo "$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) files"; \
	done

# make demo CARTS=magento,shopify: only one order flow per cart named (tests/carts/ has them all)
demo: build
	CARTS="$(CARTS)" ./tests/demo.sh

bench: build
	./build/cartwright run tests/bench/http.lua
	./build/cartwright run tests/bench/import.lua
	./build/cartwright --log-level warn run tests/bench/oversell.lua
	./build/cartwright --log-level warn run tests/bench/carts.lua

# The binary to $(PREFIX)/bin, the Lua tree, connectors, rules, SQL and docs to
# $(PREFIX)/share/cartwright (DESTDIR=… for packaging). See docs/operations.md.
PREFIX ?= /usr/local
install: build
	cmake --install build --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-fuzz
