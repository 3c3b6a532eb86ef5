# nudge - build, test, run, bench.
#   make            build bin/ (installs Debian packages first if missing)
#   make run        run the pipeline on the shipped defaults under supervisord
#   make test       the whole suite: normal build, then again under ASan+UBSan
#   make bench      throughput figures next to raw libzmq baselines
#   make SAN=1      build the sanitizer variant into build-san/

SAN ?=
ifeq ($(SAN),1)
BUILD := build-san
BIN   := build-san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD := build
BIN   := bin
SANFLAGS :=
OPT := -O2
endif

CC      ?= cc
CFLAGS  := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Ipipeline/runtime -MMD -MP $(SANFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS  := -lczmq -lzmq -llmdb -ljansson -lmicrohttpd -lcurl -lssl -lcrypto -lpthread -lm

DEBS := build-essential pkg-config libzmq3-dev libczmq-dev liblmdb-dev libcurl4-openssl-dev \
        libesmtp-dev libjansson-dev libmicrohttpd-dev libssl-dev lmdb-utils \
        python3 python3-zmq python3-aiosmtpd supervisor curl

RUNTIME_SRC := $(wildcard pipeline/runtime/*.c)
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(BUILD)/%.o)
STAGES      := collector sessionizer relay
TOOLS       := tap nd-ctl
PROGRAMS    := $(STAGES:%=$(BIN)/%) $(TOOLS:%=$(BIN)/%) $(BIN)/nd-selftest

.PHONY: all deps run test test-normal test-san bench clean man supervisor
all: $(BUILD)/.deps $(PROGRAMS)

# Installs what the build and the tests need, once per machine.
$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	@touch $@
deps: $(BUILD)/.deps

$(BUILD)/libnd.a: $(RUNTIME_OBJ)
	ar rcs $@ $^

$(BUILD)/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

define PROGRAM_RULE
$(BIN)/$(1): $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(2)/*.c)) $(BUILD)/libnd.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach s,$(STAGES),$(eval $(call PROGRAM_RULE,$(s),pipeline/$(s))))
$(foreach t,$(TOOLS),$(eval $(call PROGRAM_RULE,$(t),tools/$(t))))
$(eval $(call PROGRAM_RULE,nd-selftest,tests/unit))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

clean:
	rm -rf build build-san bin var/state var/run
