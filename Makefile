# mpexec build. `make` builds build/mpexec; see README.md for the other targets.
.DELETE_ON_ERROR:
.SUFFIXES:
# Test and benchmark objects are intermediate files of a pattern chain; keep them between builds.
.SECONDARY:
# Build on every core unless the caller chose -j.
ifeq (,$(filter -j%,$(MAKEFLAGS)))
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

MODE     ?= release
BUILD    ?= build
OUT      := $(BUILD)/$(MODE)
CXX      ?= g++
PREFIX   ?= /usr/local
DESTDIR  ?=
VERSION  := 0.1.0
# The Python package (python/mpexec, docs/python.md) goes where Debian's python3 looks: dist-packages under
# /usr, the versioned one under any other prefix (/usr/local/lib/python3.11/dist-packages).
PYTHON3  ?= /usr/bin/python3
PYTHON_SITE ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell $(PYTHON3) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages)
PY_SRCS  := $(wildcard python/mpexec/*.py)

CXXFLAGS_release := -O2 -g
CXXFLAGS_debug   := -O0 -g
SANITIZE         := -fsanitize=address,undefined
CXXFLAGS_asan    := -O1 -g $(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
                    -Wno-maybe-uninitialized
LDFLAGS_asan     := $(SANITIZE)
# MODE=fuzz is `make fuzz`'s clang build: every object instrumented for libFuzzer, ASan and UBSan. Warnings
# stay warnings there: -Werror holds for the g++ builds everyone runs.
CXXFLAGS_fuzz    := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                    -fno-sanitize-recover=undefined -DMPEXEC_LIBFUZZER -Wno-error
LDFLAGS_fuzz     := -fsanitize=fuzzer,address,undefined
# mpexec-spawner is static (a dozen mappings for every clone to copy); the sanitizers need a dynamic one.
SPAWNER_LDFLAGS_release := -static
SPAWNER_LDFLAGS_debug   := -static
CXXFLAGS ?=
override CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -pthread -I. $(CXXFLAGS_$(MODE)) \
  -DMPEXEC_VERSION='"$(VERSION)"'
LDFLAGS  ?=
override LDFLAGS += -pthread $(LDFLAGS_$(MODE))
# boost_json, libseccomp and RE2 (the output rules' patterns) are linked statically: fewer objects for the
# loader at every start, and fewer mappings for the spawner to copy at every clone (docs/sandbox.md,
# "Known limits"). expat (batch units' JUnit files) is not: Debian wants it shared.
# mpexec loads the sync service's HTTP front, libmpexec-http.so, when a test first calls the service
# (sync-service/http.h). Tests and benchmarks link it directly.
MPEXEC_LIBS := -Wl,-Bstatic -lboost_json -lseccomp -lre2 -Wl,-Bdynamic -lfmt -lexpat
LIBS        := $(MPEXEC_LIBS)
HTTP_SO     := $(OUT)/libmpexec-http.so
HTTP_SO_SRCS := sync-service/http.cc sync-service/http_answer.cc sync-service/http_request.cc
# The spawner as a library, for a preloaded interpreter (python/mpexec/_preload.py, docs/sandbox.md): the
# sandbox's objects built position-independent, exporting mpexec_spawner_serve() alone. Not in the
# sanitizer builds: an interpreter cannot load their runtime (their units exec their commands).
SPAWNER_SO  := $(if $(filter asan fuzz,$(MODE)),,$(OUT)/libmpexec-spawner.so)

# One static library per directory (DESIGN §1): executor -> sync-service, sandbox.
EXECUTOR_SRCS := $(filter-out executor/main.cc,$(wildcard executor/*.cc executor/*/*.cc))
SANDBOX_SRCS  := $(filter-out sandbox/spawner_main.cc sandbox/spawner_library.cc,$(wildcard sandbox/*.cc))
SYNC_SRCS     := $(wildcard sync-service/*.cc)
LIB_SRCS      := $(EXECUTOR_SRCS) $(SANDBOX_SRCS) $(SYNC_SRCS)
objs = $(patsubst %.cc,$(OUT)/obj/%.o,$(1))
LIB_executor  := $(OUT)/libexecutor.a
LIB_sandbox   := $(OUT)/libsandbox.a
LIB_sync      := $(OUT)/libsync.a
ALL_LIBS      := $(LIB_executor) $(LIB_sync) $(LIB_sandbox)

# Each test suite links only the libraries it needs, so one directory's breakage stays its own.
TEST_SUITES   := executor sandbox sync-service integration fuzz
LIBS_executor     := $(ALL_LIBS)
LIBS_fuzz         := $(ALL_LIBS)
LIBS_sandbox      := $(LIB_sandbox)
LIBS_sync-service := $(LIB_sync)
LIBS_integration  := $(LIB_sandbox)
LDLIBS_integration := -lz  # the HTML report's browser test decodes its screenshot
SUPPORT_OBJS  := $(call objs,$(wildcard tests/support/*.cc))
TEST_BINS     := $(TEST_SUITES:%=$(OUT)/tests/%_tests)
BENCH_SRCS    := $(wildcard bench/*_bench.cc)
BENCH_BINS    := $(BENCH_SRCS:bench/%.cc=$(OUT)/bench/%)
NS_FLOOR      := $(OUT)/bench/ns-floor
# Programs the integration tests run as batch commands (tests/fixtures/), and the batch benchmark's binary.
FIXTURES      := $(OUT)/tests/fixtures/batch-live $(OUT)/tests/fixtures/batch-gtest \
                 $(OUT)/tests/fixtures/batch-doctest
GTEST_CASES   := $(OUT)/bench/gtest-cases

ALL_SRCS := $(LIB_SRCS) executor/main.cc sandbox/spawner_main.cc sandbox/spawner_library.cc $(wildcard tests/*/*.cc tests/*/*/*.cc) \
            $(BENCH_SRCS) \
            bench/ns_floor.cc bench/gtest_cases.cc examples/batch-doctest/tests.cc
DEPS     := $(ALL_SRCS:%.cc=$(OUT)/obj/%.d) $(HTTP_SO_SRCS:%.cc=$(OUT)/pic/%.d) \
            $(SANDBOX_SRCS:%.cc=$(OUT)/pic/%.d) $(OUT)/pic/sandbox/spawner_library.d

# The fuzz targets (tests/fuzz/*_fuzz.cc, docs/fuzzing.md), each run for FUZZ_SECONDS by `make fuzz`.
FUZZ_CXX      ?= clang++-14
FUZZ_SECONDS  ?= 60
FUZZ_TARGETS  ?= $(patsubst tests/fuzz/%_fuzz.cc,%,$(wildcard tests/fuzz/*_fuzz.cc))
FUZZ_OBJS     := $(call objs,tests/fuzz/boost_json_src.cc tests/fuzz/oracle.cc tests/support/temp_dir.cc)

.PHONY: all deps test demo bench bench-compare asan fuzz fuzz-build install uninstall deb clean format
all: deps $(BUILD)/mpexec $(BUILD)/mpexec-spawner $(BUILD)/libmpexec-http.so $(BUILD)/libmpexec-spawner.so

deps:
	@packaging/install-deps.sh

$(OUT)/obj/%.o: %.cc | deps
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(LIB_executor): $(call objs,$(EXECUTOR_SRCS))
$(LIB_sandbox): $(call objs,$(SANDBOX_SRCS))
$(LIB_sync): $(call objs,$(SYNC_SRCS))
$(ALL_LIBS):
	@rm -f $@
	ar rcs $@ $^

$(OUT)/mpexec: $(OUT)/obj/executor/main.o $(ALL_LIBS)
	$(CXX) $(LDFLAGS) $^ $(MPEXEC_LIBS) -o $@

# The sync service's HTTP front as a shared library (position-independent objects of their own).
$(OUT)/pic/%.o: %.cc | deps
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -fPIC -MMD -MP -c $< -o $@

$(HTTP_SO): $(HTTP_SO_SRCS:%.cc=$(OUT)/pic/%.o)
	$(CXX) $(LDFLAGS) -shared -Wl,--no-undefined -Wl,-soname,libmpexec-http.so $^ -o $@

$(OUT)/mpexec-spawner: $(OUT)/obj/sandbox/spawner_main.o $(LIB_sandbox)
	$(CXX) $(LDFLAGS) $(SPAWNER_LDFLAGS_$(MODE)) $^ -lseccomp -o $@

# C++ and libseccomp linked in statically: the interpreter that loads it need not have them.
$(OUT)/libmpexec-spawner.so: $(SANDBOX_SRCS:%.cc=$(OUT)/pic/%.o) $(OUT)/pic/sandbox/spawner_library.o sandbox/spawner_library.map
	$(CXX) $(LDFLAGS) -shared -Wl,--no-undefined -Wl,--version-script=sandbox/spawner_library.map \
	  -Wl,-soname,libmpexec-spawner.so -static-libstdc++ -static-libgcc $(filter %.o,$^) \
	  -Wl,-Bstatic -lseccomp -Wl,-Bdynamic -o $@

$(BUILD)/mpexec $(BUILD)/mpexec-spawner $(BUILD)/libmpexec-http.so $(BUILD)/libmpexec-spawner.so: $(BUILD)/%: $(OUT)/%
	cp $< $@

# One gtest binary per source directory, so a broken directory does not stop the others' tests.
.SECONDEXPANSION:
$(OUT)/tests/%_tests: $$(call objs,$$(wildcard tests/$$*/*.cc tests/$$*/*/*.cc)) $(SUPPORT_OBJS) $$(LIBS_$$*)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIBS) $(LDLIBS_$*) -lgtest -lgtest_main -o $@

$(OUT)/bench/%: $(OUT)/obj/bench/%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIBS) -lbenchmark -o $@

# bench/compare.sh's floor of DESIGN §4's namespaces: a plain program, no library of ours, static as the
# spawner is (fewer mappings for each fork to copy).
$(NS_FLOOR): $(OUT)/obj/bench/ns_floor.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(SPAWNER_LDFLAGS_$(MODE)) $^ -o $@

$(OUT)/tests/fixtures/batch-live: $(OUT)/obj/tests/fixtures/batch_live_runner.o $(LIB_sync)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(MPEXEC_LIBS) -o $@

$(OUT)/tests/fixtures/batch-gtest: $(OUT)/obj/tests/fixtures/batch_gtest_cases.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -lgtest -lgtest_main -o $@

# examples/batch-doctest, built for the test that runs its manifest.
$(OUT)/tests/fixtures/batch-doctest: $(OUT)/obj/examples/batch-doctest/tests.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -o $@

$(GTEST_CASES): $(OUT)/obj/bench/gtest_cases.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -lgtest -lgtest_main -o $@

test: deps $(OUT)/mpexec $(OUT)/mpexec-spawner $(HTTP_SO) $(SPAWNER_SO) $(NS_FLOOR) $(FIXTURES) $(TEST_BINS)
	@packaging/install-deps.sh --browser || echo "make test: chromium is not installed; the browser test will skip"
	MPEXEC_BIN=$(abspath $(OUT)/mpexec) tests/python/run.sh $(PYTHON3)
	MPEXEC_BIN=$(abspath $(OUT)/mpexec) NS_FLOOR_BIN=$(abspath $(NS_FLOOR)) tests/run-all.sh $(TEST_BINS)

asan:
	$(MAKE) MODE=asan test

# Builds with clang in build/fuzz/, then runs each target in turn (tests/fuzz/run.sh).
fuzz:
	@packaging/install-deps.sh --fuzz
	$(MAKE) MODE=fuzz CXX="$(FUZZ_CXX)" fuzz-build
	tests/fuzz/run.sh $(BUILD)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(OUT)/fuzz/%)

$(OUT)/fuzz/%: $(OUT)/obj/tests/fuzz/%_fuzz.o $(FUZZ_OBJS) $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(LIBS) -o $@

demo: all
	$(BUILD)/mpexec --np 4 examples/demo/manifest.json

bench: deps $(OUT)/mpexec $(OUT)/mpexec-spawner $(HTTP_SO) $(SPAWNER_SO) $(BENCH_BINS) $(GTEST_CASES)
	MPEXEC_BIN=$(abspath $(OUT)/mpexec) GTEST_CASES=$(abspath $(GTEST_CASES)) bench/run-all.sh $(BENCH_BINS)

# COMPARE_ARGS=--write also writes bench/RESULTS.md; RUNS, LARGE, WORKLOADS: see bench/compare.sh.
bench-compare: all $(NS_FLOOR)
	@packaging/install-deps.sh --bench
	MPEXEC_BIN=$(abspath $(BUILD)/mpexec) NS_FLOOR_BIN=$(abspath $(NS_FLOOR)) bench/compare.sh $(COMPARE_ARGS)

install: all
	install -Dm755 $(BUILD)/mpexec $(DESTDIR)$(PREFIX)/bin/mpexec
	install -Dm755 $(BUILD)/mpexec-spawner $(DESTDIR)$(PREFIX)/lib/mpexec/mpexec-spawner
	install -Dm644 $(BUILD)/libmpexec-http.so $(DESTDIR)$(PREFIX)/lib/mpexec/libmpexec-http.so
	install -Dm644 $(BUILD)/libmpexec-spawner.so $(DESTDIR)$(PREFIX)/lib/mpexec/libmpexec-spawner.so
	install -Dm644 packaging/mpexec.1 $(DESTDIR)$(PREFIX)/share/man/man1/mpexec.1
	install -Dm644 packaging/bash-completion/mpexec $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mpexec
	packaging/python-install.sh $(VERSION) $(DESTDIR)$(PYTHON_SITE) $(PY_SRCS)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mpexec $(DESTDIR)$(PREFIX)/lib/mpexec/mpexec-spawner \
	  $(DESTDIR)$(PREFIX)/lib/mpexec/libmpexec-http.so $(DESTDIR)$(PREFIX)/lib/mpexec/libmpexec-spawner.so
	-rmdir $(DESTDIR)$(PREFIX)/lib/mpexec 2>/dev/null
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/mpexec.1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions/mpexec
	rm -rf $(DESTDIR)$(PYTHON_SITE)/mpexec $(DESTDIR)$(PYTHON_SITE)/mpexec-$(VERSION).dist-info

# build/mpexec_<version>_<arch>.deb (packaging/deb.sh: dpkg-deb, Depends from dpkg-shlibdeps) and
# build/python3-mpexec_<version>_all.deb (packaging/deb-python.sh).
deb: all
	@packaging/install-deps.sh --package
	packaging/deb.sh $(BUILD)/mpexec $(VERSION) $(BUILD)
	packaging/deb-python.sh $(VERSION) $(BUILD)

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $(ALL_SRCS) $(wildcard */*.h */*/*.h tests/*/*.h)

-include $(DEPS)
