# nudge - build, test, run, bench.
#   make            build bin/ (installs Debian packages first if missing)
#   make run        run the pipeline on the shipped defaults under supervisord
#   make test       the whole suite: normal build (gcc), then again under ASan+UBSan (clang)
#   make bench      throughput figures next to raw libzmq baselines
#   make bench-json nudge's JSON parser (nd_json) against jansson, same bodies, same run
#   make backtest   a generated month through the shipped pipeline (nd-backtest)
#   make SAN=1      build the sanitizer variant into build-san/
#   make fuzz       libFuzzer targets, each run for FUZZ_SECONDS (default 120)

SAN ?=
ifeq ($(SAN),1)
BUILD := build-san
BIN   := build-san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
# clang: its UBSan sees what gcc's does not (a NULL + 0 in nd_json.c), and
# the normal build is gcc, so the suite runs under both compilers
ifeq ($(origin CC),default)
CC := clang
endif
ifeq ($(origin CXX),default)
CXX := clang++
endif
else
BUILD := build
BIN   := bin
SANFLAGS :=
OPT := -O2
# jemalloc: jansson builds every message as many small blocks, freed a
# moment later; glibc's malloc spends a quarter of the sessionizer's time
# on them, jemalloc much less (make bench: about 91k -> 130k events/s
# catching up). ASan brings its own allocator, so not in SAN=1.
MALLOC := -ljemalloc
endif

CC      ?= cc
CFLAGS  := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Ipipeline/runtime -MMD -MP $(SANFLAGS)
#   C++ only for the runtime's libphonenumber shim (nd_phone.cc). The
#   programs link with the C driver, which brings no C++ UBSan runtime:
#   without vptr checks the shim needs none (ASan and the rest stay on).
CXXFLAGS := -std=gnu++17 $(OPT) -g -Wall -Wextra -Werror -Ipipeline/runtime -MMD -MP $(SANFLAGS) \
            $(if $(SANFLAGS),-fno-sanitize=vptr)
LDFLAGS := $(SANFLAGS)
LDLIBS  := -lczmq -lzmq -llmdb -ljansson -lmicrohttpd -lcurl -lesmtp -lssl -lcrypto -lz -lpthread -lm \
           $(shell pkg-config --libs icu-i18n icu-uc) \
           -Wl,--as-needed -lphonenumber -lstdc++ -Wl,--no-as-needed $(MALLOC)

DEBS := build-essential pkg-config libzmq3-dev libczmq-dev liblmdb-dev libcurl4-openssl-dev \
        libesmtp-dev libjansson-dev libmicrohttpd-dev libssl-dev libjemalloc-dev zlib1g-dev lmdb-utils \
        libicu-dev libphonenumber-dev g++ python3 python3-zmq python3-aiosmtpd python3-dkim supervisor curl wrk clang libclang-rt-14-dev systemd \
        chromium

RUNTIME_SRC := $(wildcard pipeline/runtime/*.c pipeline/runtime/*.cc)
RUNTIME_OBJ := $(patsubst %.cc,$(BUILD)/%.o,$(RUNTIME_SRC:%.c=$(BUILD)/%.o))
STAGES      := collector sessionizer relay segmenter scheduler mail-sender push-sender sms-sender chat-bridge onsite
TOOLS       := tap nd-ctl nd-supervisor nd-codes nd-report nd-vapid nd-chat nd-cert nd-render nd-bounce nd-person nd-repartition
PROGRAMS    := $(STAGES:%=$(BIN)/%) $(TOOLS:%=$(BIN)/%) $(BIN)/nd-selftest
#   Python tools: copied into the bin directory, beside the programs they run
SCRIPTS     := $(BIN)/nd-backtest $(BIN)/nd_backtest.py $(BIN)/nd-month

.PHONY: all deps run test fuzz fuzz-build bench bench-programs bench-scheduler bench-senders bench-backtest bench-http bench-json clean supervisor install backtest
all: $(BUILD)/.deps $(PROGRAMS) $(SCRIPTS)

# A fresh machine often has another apt running (unattended upgrades): wait
# for its locks, the dpkg lock by apt's own option, the lists lock by retrying.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq
APT_UPDATE  := for try in $$(seq 30); do apt-get -o DPkg::Lock::Timeout=900 update -qq && break; \
               echo "apt-get update: waiting for the package lists' lock"; sleep 10; done
NPROC       := $(shell nproc 2>/dev/null || echo 2)

# Installs what the build and the tests need, once per machine.
$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    $(APT_UPDATE) && $(APT_INSTALL) $$missing >/dev/null || exit 1; \
	fi
	@command -v node >/dev/null && command -v npm >/dev/null || \
	    ($(APT_UPDATE) && $(APT_INSTALL) nodejs npm >/dev/null)
	@touch $@
deps: $(BUILD)/.deps

$(BUILD)/libnd.a: $(RUNTIME_OBJ)
	ar rcs $@ $^

$(BUILD)/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

define PROGRAM_RULE
$(BIN)/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(2)/*.c)) $(BUILD)/libnd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $$@ $$(filter-out %.a,$$^) $$(filter %.a,$$^) $(LDLIBS)
endef
$(BIN)/nd-backtest: tools/nd-backtest/nd-backtest
	@mkdir -p $(BIN)
	install -m 0755 $< $@
$(BIN)/nd_backtest.py: tools/nd-backtest/nd_backtest.py
	@mkdir -p $(BIN)
	install -m 0644 $< $@
$(BIN)/nd-month: tools/nd-backtest/month.py
	@mkdir -p $(BIN)
	install -m 0755 $< $@

$(foreach s,$(STAGES),$(eval $(call PROGRAM_RULE,$(s),pipeline/$(s))))
$(foreach t,$(TOOLS),$(eval $(call PROGRAM_RULE,$(t),tools/$(t))))
$(eval $(call PROGRAM_RULE,nd-selftest,tests/unit))

# nd-render renders with the senders' own code: their objects, linked in
# (no second composer), and their headers for its own sources.
RENDER_OBJ := $(addprefix $(BUILD)/pipeline/,mail-sender/mail_compose.o mail-sender/mail_mime.o \
              mail-sender/mail_dkim.o mail-sender/mail_smtp.o mail-sender/mail_verp.o mail-sender/mail_tunnel.o \
              mail-sender/mail_maildir.o push-sender/push_service.o push-sender/push_ece.o \
              push-sender/push_vapid.o push-sender/push_jwt.o push-sender/push_fcm.o \
              push-sender/push_apns.o sms-sender/sms_text.o sms-sender/sms_footer.o onsite/onsite_render.o)
$(BIN)/nd-render: $(RENDER_OBJ)
$(BUILD)/tools/nd-render/%.o: CFLAGS += -Ipipeline/mail-sender -Ipipeline/push-sender \
                                        -Ipipeline/sms-sender -Ipipeline/onsite

# The chat-bridge masks and checks phone numbers as the sms-sender does.
$(BIN)/chat-bridge: $(BUILD)/pipeline/sms-sender/sms_text.o
$(BUILD)/pipeline/chat-bridge/%.o: CFLAGS += -Ipipeline/sms-sender

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# The pipeline on the shipped defaults, under a real supervisor, in the
# foreground: Ctrl-C stops supervisord and every stage with it. The
# push-sender's VAPID key (var/vapid.key) is made once and kept: a new one
# would orphan every browser's subscription.
run: all $(BIN)/nd-supervisor
	@mkdir -p -m 0700 var/run var/state var/log
	@test -e var/vapid.key || $(BIN)/nd-vapid -o var/vapid.key >/dev/null
	@echo "Web Push: the shop's page subscribes with this applicationServerKey (var/vapid.key):"
	@$(BIN)/nd-vapid --public var/vapid.key
	$(BIN)/nd-supervisor -c conf/pipeline.zpl --bin $(CURDIR)/$(BIN) --dir $(CURDIR) -o var/supervisord.conf
	@printf '%s\n' '' '[program:demo-shop]' \
	    'command=/usr/bin/python3 -m http.server --bind 127.0.0.1 8000 --directory $(CURDIR)/web/demo' \
	    'directory=$(CURDIR)' 'priority=900' 'autostart=true' 'autorestart=true' 'startsecs=1' \
	    'stdout_logfile=$(CURDIR)/var/log/demo-shop.log' 'redirect_stderr=true' >>var/supervisord.conf
	@echo "The demo shop (web/demo): http://127.0.0.1:8000/"
	exec supervisord -n -c var/supervisord.conf

# Every test, on the normal build and again under ASan+UBSan (with the
# sanitizer settings tests/run sets); the last line is the combined
# "N passed, N failed".
test: tests/e2e/node_modules/.installed
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=1 all
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	@env -u ASAN_OPTIONS -u UBSAN_OPTIONS tests/all bin build-san/bin $(FUZZ_BUILD)/bin

# The third-party clients the end-to-end tests drive (npm, pinned by the lock file).
tests/e2e/node_modules/.installed: tests/e2e/package.json tests/e2e/package-lock.json | $(BUILD)/.deps
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Fuzzing: libFuzzer targets (clang, ASan+UBSan) for what reads untrusted
# or hand-written input, each with a seed corpus in tests/fuzz/corpus/.
# make fuzz runs each for FUZZ_SECONDS (default 120); make test builds them
# and runs each briefly (tests/fuzz/run). clang's UBSan also sees what gcc's
# does not (nd_json.c's NULL + 0).
FUZZ_BUILD   := build-fuzz
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Ipipeline/runtime -Ipipeline/collector \
                -Ipipeline/scheduler -Ipipeline/sms-sender -Ipipeline/mail-sender -Ipipeline/segmenter \
                -Itools/nd-bounce \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -MMD -MP
FUZZ_TARGETS := json mustache event zpl cond journey segments sms_hook mime bounce feed
FUZZ_SECONDS ?= 120
FUZZ_RUNTIME := $(patsubst %.cc,$(FUZZ_BUILD)/%.o,$(RUNTIME_SRC:%.c=$(FUZZ_BUILD)/%.o))
fuzz_json_SRC     :=
fuzz_mustache_SRC :=
fuzz_zpl_SRC      :=
fuzz_event_SRC    := pipeline/collector/collector_event.c
fuzz_cond_SRC     := pipeline/scheduler/cond.c
fuzz_journey_SRC  := $(filter-out %/scheduler.c,$(wildcard pipeline/scheduler/*.c))
fuzz_segments_SRC := $(filter-out %/segmenter.c,$(wildcard pipeline/segmenter/*.c))
fuzz_sms_hook_SRC := pipeline/sms-sender/sms_provider.c pipeline/sms-sender/sms_twilio.c \
                     pipeline/sms-sender/sms_infobip.c pipeline/sms-sender/sms_spool.c \
                     pipeline/sms-sender/sms_text.c pipeline/sms-sender/sms_whatsapp.c
fuzz_mime_SRC     := pipeline/mail-sender/mail_mime.c
fuzz_bounce_SRC   := tools/nd-bounce/bounce_report.c
fuzz_feed_SRC     :=

$(FUZZ_BUILD)/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_BUILD)/%.o: %.cc | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang++ $(filter-out -std=gnu11,$(FUZZ_CFLAGS)) -std=gnu++17 -fno-sanitize=vptr -c $< -o $@

define FUZZ_RULE
$(FUZZ_BUILD)/bin/fuzz_$(1): $(FUZZ_BUILD)/tests/fuzz/fuzz_$(1).o $$(fuzz_$(1)_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_RUNTIME)
	@mkdir -p $(FUZZ_BUILD)/bin
	clang -fsanitize=fuzzer,address,undefined -o $$@ $$^ $(filter-out -ljemalloc,$(LDLIBS))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/bin/fuzz_%)
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_BUILD)/bin

# Reference supervisor configs for the shipped pipeline as make install
# (PREFIX=/usr/local) installs it and its units (test_supervisor checks them).
supervisor: $(BIN)/nd-supervisor
	rm -rf $(BUILD)/reference && mkdir -p $(BUILD)/reference/etc/nudge conf/supervisor
	$(call FHS_PIPELINE,/usr/local/share/nudge) conf/pipeline.zpl >$(BUILD)/reference/etc/nudge/pipeline.zpl
	$(BIN)/nd-supervisor --root=$(BUILD)/reference -c /etc/nudge/pipeline.zpl --bin /usr/local/bin \
	    --dir /var/lib/nudge --user nudge -f include -o conf/supervisor/nudge.conf
	rm -f conf/systemd/nudge-*.service conf/systemd/nudge.target
	$(BIN)/nd-supervisor --root=$(BUILD)/reference -c /etc/nudge/pipeline.zpl --bin /usr/local/bin \
	    --dir /var/lib/nudge --user nudge -f systemd -o conf/systemd

# Every figure the issues ask for, each next to its baseline from the same run.
bench: all tests/e2e/node_modules/.installed
	@$(MAKE) --no-print-directory bench-programs $(BUILD)/bench/push_bench
	/usr/bin/python3 bench/bench.py
	@$(MAKE) --no-print-directory bench-http
	$(BUILD)/bench/scheduler_bench
	/usr/bin/python3 bench/mail_bench.py
	/usr/bin/python3 bench/push_bench.py
	/usr/bin/python3 bench/sms_bench.py
	/usr/bin/python3 bench/backtest_bench.py
	@$(MAKE) --no-print-directory bench-json
	@$(MAKE) --no-print-directory bench-kit
	@$(MAKE) --no-print-directory bench-tests

# The test scripts whose replays or kill runs make test keeps small (to
# stay within CI's 20 minutes), at their full size (FULL=1): the 40k-event
# month of test_backtest, the 100 000 timers of test_scheduler_crash, the
# 100 000 visitors of test_retention_all.
.PHONY: bench-tests
bench-tests: all
	FULL=1 tests/run $(BIN) -k test_backtest
	FULL=1 tests/run $(BIN) -k test_scheduler_crash
	FULL=1 tests/run $(BIN) -k test_retention_all

# The JSON parser weighed: nd_json against jansson, parse and serialise
# (MB/s, messages/s), on real wire bodies that a small replay through
# collector, sessionizer and segmenter produces (bench/json_bodies.py).
.PHONY: bench-json
bench-json: all $(BUILD)/bench/json_bench
	@/usr/bin/python3 bench/json_bodies.py $(BUILD)/bench/json >/dev/null
	$(BUILD)/bench/json_bench $(BUILD)/bench/json/track.json $(BUILD)/bench/json/cart.json \
	    $(BUILD)/bench/json/profile.json
$(BUILD)/bench/json_bench: bench/json_bench.c $(BUILD)/libnd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c %.a,$^) $(LDLIBS)

# The browser kit's size, as a shop's visitors download it (aim: nudge.js <= 10 KB gzipped).
.PHONY: bench-kit
bench-kit:
	@for f in web/nudge.js web/nudge-sw.js; do \
	    printf '%-16s %6d bytes, gzipped %5d (gzip -6), %5d (-9)\n' $$f $$(wc -c <$$f) \
	        $$(gzip -6c $$f | wc -c) $$(gzip -9c $$f | wc -c); \
	done

# A month of at least 400k events through every stage (nd-backtest), next
# to raw libzmq, with CPU seconds and peak RSS per stage.
bench-backtest: all $(BUILD)/bench/zmq_baseline
	/usr/bin/python3 bench/backtest_bench.py

# The collector's single-event /v1/track next to nginx answering 204 to
# the same POSTs (wrk, loopback, BENCH_SECONDS each).
# nginx is the bench's alone, not the tests': installed here, with
# policy-rc.d saying no for the install, so no nginx starts on port 80 (the
# bench runs its own, one worker on a loopback port).
bench-http: all
	@dpkg -s nginx-light >/dev/null 2>&1 || { \
	    echo "installing Debian packages: nginx-light (for the bench's baseline)"; \
	    own=; [ -e /usr/sbin/policy-rc.d ] || { own=1; printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	                                          chmod 755 /usr/sbin/policy-rc.d; }; \
	    $(APT_UPDATE) && $(APT_INSTALL) nginx-light >/dev/null; rc=$$?; \
	    [ -z "$$own" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ]; }
	/usr/bin/python3 bench/http_bench.py

bench-programs: $(BUILD)/bench/zmq_baseline $(BUILD)/bench/scheduler_bench
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# The scheduler's durable timers: scheduling and firing rates with 1 M
# pending, memory with 10 M (bench/scheduler_bench.c).
$(BUILD)/bench/scheduler_bench: bench/scheduler_bench.c $(BUILD)/pipeline/scheduler/timers.o $(BUILD)/libnd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ipipeline/scheduler -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)
bench-scheduler: $(BUILD)/bench/scheduler_bench
	$(BUILD)/bench/scheduler_bench

# The senders: the push-sender's encryption and VAPID cost per message
# (bench/push_bench.c), pushes/s and SMS/s against local mock services.
$(BUILD)/bench/push_bench: bench/push_bench.c $(BUILD)/pipeline/push-sender/push_ece.o \
                           $(BUILD)/pipeline/push-sender/push_vapid.o \
                           $(BUILD)/pipeline/push-sender/push_jwt.o $(BUILD)/libnd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ipipeline/push-sender -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)
bench-senders: all $(BUILD)/bench/push_bench
	/usr/bin/python3 bench/push_bench.py
	/usr/bin/python3 bench/sms_bench.py

# A generated month (nd-month, 40k events, seed 1) through the shipped
# pipeline file, on a private state directory: what would have been sent.
BACKTEST_EVENTS ?= 40000
backtest: all
	@mkdir -p var
	$(BIN)/nd-month --events $(BACKTEST_EVENTS) --seed 1 -o var/backtest-month.jsonl
	$(BIN)/nd-backtest --bin $(BIN) -c conf/pipeline.zpl --events var/backtest-month.jsonl

# Installs nudge as the FHS lays it out (README "Installing"):
#   PREFIX/bin, PREFIX/share/man/man1   the programs, their pages
#   PREFIX/share/man/man5               the file formats (pipeline, segments, journeys, conditions, templates)
#   PREFIX/share/nudge/web              the browser kit
#   PREFIX/share/nudge/conf             the shipped configuration as installed
#                                       (pipeline.zpl through tools/install/fhs.sed)
#   /etc/nudge                          the same, which the stages read and the
#                                       operator edits: a file already there is kept
#   PREFIX/lib/sysusers.d, tmpfiles.d   the nudge user, /var/lib/nudge (state and the
#                                       secrets nudge makes), /run/nudge (sockets)
#   PREFIX/lib/systemd/system           units for /etc/nudge/pipeline.zpl, as nudge
#   PREFIX/share/nudge/supervisor       the same stages for supervisord's conf.d
# On the live system (no DESTDIR) it then makes the user, the directories and
# the push key (tools/install/deb/postinst, as the package does); it starts nothing.
PREFIX  ?= /usr/local
DATADIR := $(PREFIX)/share/nudge
UNITDIR := $(PREFIX)/lib/systemd/system
ETCDIR  := /etc/nudge
SHIPPED := segments.zpl chat-widget.js journeys templates
#   $(call FHS_PIPELINE,DATADIR) FILE: the pipeline file with installed paths
FHS_PIPELINE = sed -f tools/install/fhs.sed -e 's|@DATADIR@|$(1)|g'
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(DATADIR)/conf \
	    $(DESTDIR)$(DATADIR)/supervisor $(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/lib/tmpfiles.d \
	    $(DESTDIR)$(UNITDIR)
	install -d -m 0750 $(DESTDIR)$(ETCDIR)
	install -d -m 0700 $(DESTDIR)/var/lib/nudge
	install -m 0755 $(STAGES:%=$(BIN)/%) $(TOOLS:%=$(BIN)/%) $(BIN)/nd-backtest $(BIN)/nd-month \
	    $(DESTDIR)$(PREFIX)/bin
	install -m 0644 $(BIN)/nd_backtest.py $(DESTDIR)$(PREFIX)/bin
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	find web -type f | while read -r f; do install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/$$f"; done
	$(call FHS_PIPELINE,$(DATADIR)) conf/pipeline.zpl >$(DESTDIR)$(DATADIR)/conf/pipeline.zpl
	find $(SHIPPED:%=conf/%) -type f | while read -r f; do install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/$$f"; done
	(cd $(DESTDIR)$(DATADIR)/conf && find . -type f) | while read -r f; do \
	    [ -e "$(DESTDIR)$(ETCDIR)/$$f" ] || install -D -m 0644 "$(DESTDIR)$(DATADIR)/conf/$$f" "$(DESTDIR)$(ETCDIR)/$$f"; \
	done
	install -m 0644 conf/sysusers.d/nudge.conf $(DESTDIR)$(PREFIX)/lib/sysusers.d/nudge.conf
	install -m 0644 conf/tmpfiles.d/nudge.conf $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/nudge.conf
	$(BIN)/nd-supervisor --root=$(DESTDIR) -c $(ETCDIR)/pipeline.zpl -f systemd --bin $(PREFIX)/bin \
	    --dir /var/lib/nudge --user nudge -o $(DESTDIR)$(UNITDIR)
	$(BIN)/nd-supervisor --root=$(DESTDIR) -c $(ETCDIR)/pipeline.zpl -f include --bin $(PREFIX)/bin \
	    --dir /var/lib/nudge --user nudge -o $(DESTDIR)$(DATADIR)/supervisor/nudge.conf
	@[ -n "$(DESTDIR)" ] || PREFIX=$(PREFIX) tools/install/deb/postinst configure

# A Debian package of all of it (build/nudge_VERSION_ARCH.deb): make install
# into a staging directory with PREFIX=/usr, then dpkg-deb (tools/install/mkdeb).
VERSION := $(shell sed -n 's/^\#define ND_VERSION "\(.*\)"/\1/p' pipeline/runtime/nd.h)
.PHONY: deb
deb: all
	rm -rf $(BUILD)/deb
	@$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BUILD)/deb/root PREFIX=/usr >/dev/null
	tools/install/mkdeb $(BUILD)/deb/root $(VERSION) $(BUILD)

clean:
	rm -rf build build-san build-fuzz bin var/state var/run
