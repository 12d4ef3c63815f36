# Thin wrapper over CMake. Every target installs missing Debian packages
# first (scripts/install-deps), so a fresh machine needs no manual step.
#   make            build into build/ (build/beacon, build/libbeacon.*)
#   make test       the format check, the whole suite via CTest, then again
#                   under ASan+UBSan, then every fuzz target for
#                   FUZZ_CI_SECONDS (default 10)
#   make demo       the quickstart: dev PKI, relay, round trips through it
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60)
#   make coverage   line coverage of the protocol cores (gcovr)
#   make tsan       ThreadSanitizer over the library and relay tests
#   make bench      benchmarks (not part of make test); BASELINE=REV
#                   interleaves this tree with revision REV built beside it
#   make soak       long-running reliability runs (not part of make test)
#   make hostile    attacks on a relay on loopback, one table (bench/
#                   hostile.py; not part of make test); HOSTILE_ARGS=
#                   "--rows preauth,memory" picks rows
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        the Debian packages (debian/) into build-deb/
#   make test-package  make deb, lintian, then install, check and purge
#                   them on this machine (as root)

BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
COV_BUILD ?= build-cov
TSAN_BUILD ?= build-tsan
DEB_BUILD ?= build-deb
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10
CMAKE_FLAGS ?=

.PHONY: all deps build test test-fast test-asan test-fuzz fuzz-build tsan demo fuzz coverage \
	bench soak hostile install deb test-package clean format check-format

all: build

deps:
	@sh scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) \
		$(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The format check runs first, so `make test` (and CI) fails on a file
# clang-format would change.
test-fast: build check-format
	cd $(BUILD) && ctest --output-on-failure -j$(CTEST_JOBS) \
		--label-exclude 'soak|bench'

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DBEACON_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		BEACON_SANITIZED=1 ctest --output-on-failure -j$(CTEST_JOBS) \
		--label-exclude 'soak|bench|nosan'

# Every libFuzzer target for a few seconds (clang, ASan+UBSan): the
# corpus replay in the two builds above checks known inputs, this looks
# for new ones. Long runs are `make fuzz`.
test-fuzz: fuzz-build
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j$(CTEST_JOBS) -L fuzz

test: test-fast test-asan test-fuzz

# ThreadSanitizer over the threaded parts: libbeacon's dial threads and
# the relay's workers (not part of make test: clang build, slower).
tsan: deps
	@CC=clang cmake -S . -B $(TSAN_BUILD) -DBEACON_TSAN=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		BEACON_SANITIZED=1 ctest --output-on-failure -j$(CTEST_JOBS) \
		-R 'integration\.client\.|integration\.relay\.|unit\.' \
		--label-exclude 'soak|bench|nosan'

demo: build
	@python3 scripts/demo.py --build $(BUILD)

# The clang/libFuzzer tree both fuzz targets use.
fuzz-build: deps
	@sh scripts/install-deps fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DBEACON_FUZZ=ON \
		-DBEACON_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DBEACON_FUZZ_SECONDS=$(FUZZ_CI_SECONDS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)

fuzz: fuzz-build
	@sh scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

coverage: deps
	@sh scripts/install-deps coverage
	@cmake -S . -B $(COV_BUILD) -DBEACON_COVERAGE=ON \
		-DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(COV_BUILD) -j$(JOBS)
	cd $(COV_BUILD) && ctest -L unit --output-on-failure -j$(CTEST_JOBS)
	gcovr -r . --object-directory $(COV_BUILD) \
		--filter 'src/target/' --filter 'src/mux/' --filter 'src/policy/' \
		--print-summary --fail-under-line 90

bench: build
	@sh scripts/install-deps bench
	python3 bench/run.py --build $(BUILD) \
		$(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_ARGS)

soak: build
	cd $(BUILD) && ctest --output-on-failure -L soak

hostile: build
	@sh scripts/install-deps bench
	python3 bench/hostile.py --build $(BUILD) $(HOSTILE_ARGS)

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)

# dpkg-buildpackage in a copy of the tree under $(DEB_BUILD), so the
# source tree stays clean.
deb: deps
	@sh scripts/install-deps deb
	sh scripts/build-deb $(DEB_BUILD)

# Installs the packages on this machine and purges them again
# (tests/package/test-package documents the checks).
test-package: deb
	sh tests/package/test-package $(DEB_BUILD)

# Every tracked C source and header (src, include, tests, fuzz, bench,
# examples), with the repository's .clang-format.
format: deps
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h') \
		|| { echo "check-format: run 'make format'" >&2; exit 1; }

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD) $(TSAN_BUILD) \
		$(DEB_BUILD)
