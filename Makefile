# rgetty -- build, install and check. See docs/packaging.md.
#
#   make                      release build of rgetty, rgetty-wait, rgetty-ringd, rgetty-share
#   make install              install under PREFIX (/usr/local), DESTDIR for staging
#   make install-files        the same without building (BUILD_DIR holds the binaries)
#   make uninstall            remove what install put there (configuration is kept)
#   make install-remserial-link   optional: BINDIR/remserial -> rgetty-share (remserial's
#                             command line), never over an installed remserial
#   make check                cargo fmt --check, clippy -D warnings, cargo test
#   make lint-man             mandoc lint of every man page, fails on any message
#   make deb                  Debian package with cargo-deb (installs to /usr, see Cargo.toml)
#   make fuzz                 every fuzz target for FUZZ_SECONDS (nightly + cargo-fuzz)

PREFIX     ?= /usr/local
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/rgetty
# Configuration lives in /etc/rgetty whatever the PREFIX (rgetty's built-in default).
CONFDIR    ?= /etc/rgetty
# rgetty's per-line log files (its --log-dir default); rgetty does not create the directory.
LOGDIR     ?= /var/log/rgetty
# systemd also reads /usr/local/lib/systemd/system, so the units follow PREFIX.
UNITDIR    ?= $(PREFIX)/lib/systemd/system
# logrotate reads only /etc/logrotate.d, whatever the PREFIX.
LOGROTATEDIR ?= /etc/logrotate.d

CARGO      ?= cargo
MANDOC     ?= mandoc
INSTALL    ?= install
FUZZ_SECONDS ?= 60

BUILD_DIR  ?= target/release
SBIN_PROGS  = rgetty rgetty-wait rgetty-ringd
BIN_PROGS   = rgetty-share
MAN5        = $(wildcard man/*.5)
MAN8        = $(wildcard man/*.8)
# Samples: login.config and xringd.conf get mode 600 (they name programs run as root, and a
# ring cadence is a password); the others 644. Only the files present are installed.
SAMPLES_600 = $(wildcard etc/login.config etc/xringd.conf)
SAMPLES_644 = $(wildcard etc/mgetty.config etc/dialin.config etc/block-list etc/rgetty-share.conf)
UNITS       = $(wildcard etc/*.service etc/*.socket)
EXAMPLES    = $(wildcard inittab.sample etc/99-rgetty.rules)

.PHONY: all build install install-files install-remserial-link uninstall check lint-man deb fuzz clean

all: build

build:
	$(CARGO) build --release --locked

install: build
	$(MAKE) install-files

# Everything `install` does after the build; the packaging test runs it on the debug binaries.
install-files:
	$(INSTALL) -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	for p in $(SBIN_PROGS); do $(INSTALL) -m 755 $(BUILD_DIR)/$$p $(DESTDIR)$(SBINDIR)/$$p || exit 1; done
	for p in $(BIN_PROGS); do $(INSTALL) -m 755 $(BUILD_DIR)/$$p $(DESTDIR)$(BINDIR)/$$p || exit 1; done
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for m in $(MAN5); do $(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man5/ || exit 1; done
	for m in $(MAN8); do $(INSTALL) -m 644 $$m $(DESTDIR)$(MANDIR)/man8/ || exit 1; done
	@# configuration samples: never overwrite what the admin has
	$(INSTALL) -d -m 755 $(DESTDIR)$(CONFDIR)
	@for f in $(SAMPLES_600) $(SAMPLES_644); do \
	    dest=$(DESTDIR)$(CONFDIR)/$$(basename $$f); \
	    case " $(SAMPLES_600) " in *" $$f "*) mode=600 ;; *) mode=644 ;; esac; \
	    if [ -e "$$dest" ]; then echo "keeping existing $$dest"; \
	    else echo "$(INSTALL) -m $$mode $$f $$dest"; $(INSTALL) -m $$mode $$f "$$dest" || exit 1; fi; \
	done
	$(INSTALL) -d -m 750 $(DESTDIR)$(LOGDIR)
	$(INSTALL) -d $(DESTDIR)$(LOGROTATEDIR)
	@if [ -e $(DESTDIR)$(LOGROTATEDIR)/rgetty ]; then echo "keeping existing $(DESTDIR)$(LOGROTATEDIR)/rgetty"; \
	else echo "$(INSTALL) -m 644 etc/rgetty.logrotate $(DESTDIR)$(LOGROTATEDIR)/rgetty"; \
	    $(INSTALL) -m 644 etc/rgetty.logrotate $(DESTDIR)$(LOGROTATEDIR)/rgetty || exit 1; fi
	@# units (the socket too): ExecStart follows SBINDIR/BINDIR, config paths CONFDIR
	$(INSTALL) -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
	    sed -e 's|/usr/sbin/rgetty|$(SBINDIR)/rgetty|g' -e 's|/usr/bin/rgetty|$(BINDIR)/rgetty|g' \
	        -e 's|/etc/rgetty/|$(CONFDIR)/|g' $$u \
	        > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)/examples
	@# examples name the installed program (SBINDIR), as the units do
	for e in $(EXAMPLES); do \
	    sed -e 's|/usr/sbin/rgetty|$(SBINDIR)/rgetty|g' $$e > $(DESTDIR)$(DOCDIR)/examples/$$(basename $$e) \
	        && chmod 644 $(DESTDIR)$(DOCDIR)/examples/$$(basename $$e) || exit 1; \
	done

# rgetty-share started as `remserial` reads remserial's command line. Refused when a remserial
# is there already (a file or link in BINDIR, or, for a live install, one on $PATH).
install-remserial-link:
	@dest="$(DESTDIR)$(BINDIR)/remserial"; \
	if [ -L "$$dest" ] && [ "$$(readlink "$$dest")" = rgetty-share ]; then \
	    echo "$$dest already links to rgetty-share"; \
	elif [ -e "$$dest" ] || [ -L "$$dest" ]; then \
	    echo "$$dest exists: a remserial is installed, not replacing it" >&2; exit 1; \
	elif [ -z "$(DESTDIR)" ] && other=$$(command -v remserial); then \
	    echo "remserial is installed as $$other: not adding $$dest" >&2; exit 1; \
	else $(INSTALL) -d "$(DESTDIR)$(BINDIR)" && ln -s rgetty-share "$$dest" && echo "$$dest -> rgetty-share"; fi

uninstall:
	@# the remserial link only if it is ours
	@if [ "$$(readlink $(DESTDIR)$(BINDIR)/remserial 2>/dev/null)" = rgetty-share ]; then rm -f $(DESTDIR)$(BINDIR)/remserial; fi
	for p in $(SBIN_PROGS); do rm -f $(DESTDIR)$(SBINDIR)/$$p; done
	for p in $(BIN_PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p; done
	for m in $(MAN5); do rm -f $(DESTDIR)$(MANDIR)/man5/$$(basename $$m); done
	for m in $(MAN8); do rm -f $(DESTDIR)$(MANDIR)/man8/$$(basename $$m); done
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "configuration in $(DESTDIR)$(CONFDIR) and $(DESTDIR)$(LOGROTATEDIR)/rgetty, logs in $(DESTDIR)$(LOGDIR) left in place"

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

# mandoc prints nothing for a clean page; any output (warning or worse) fails the target.
lint-man:
	@pages="$(MAN5) $(MAN8)"; [ -n "$$pages" ] || { echo "no man pages found"; exit 1; }; \
	out=$$(for p in $$pages; do $(MANDOC) -T lint -W warning $$p; done 2>&1); \
	if [ -n "$$out" ]; then printf '%s\n' "$$out"; exit 1; fi; \
	echo "mandoc: $$(echo $$pages | wc -w) pages clean"

deb:
	$(CARGO) deb

fuzz:
	fuzz/run-all.sh $(FUZZ_SECONDS)

clean:
	$(CARGO) clean
