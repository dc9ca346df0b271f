# The two commands of the README: `make run` and `make test`. Both create .venv,
# install the system libraries and the package, then do their job.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Debian packages: Python's venv module (Debian ships it apart), its headers and a C++ compiler (aubio builds from source;
# the fast synthesis path is compiled on the machine), PortAudio (sounddevice), EGL + Mesa (headless ModernGL),
# libsndfile (soundfile), ffmpeg (command-line checks of written videos).
RUN_PKGS := python3-venv python3-dev g++ libportaudio2 libsndfile1 libegl1 libgl1-mesa-dri ffmpeg
# For the tests of real paths and the training data only: Xvfb (a real window), PulseAudio (real capture),
# JACK (real MIDI ports: a container has no ALSA sequencer), fluidsynth + a General MIDI soundfont (MIDI data
# rendered to audio). `make run` does not ask for them.
TEST_PKGS := xvfb pulseaudio libasound2-plugins jackd2 fluidsynth fluid-soundfont-gm

.PHONY: run test sysdeps clean

run: $(STAMP)
	$(PY) -m live

# One worker per core (the tests' torch runs on one thread each); at most 8, each holds its own torch.
test: $(STAMP)
	@$(MAKE) --no-print-directory sysdeps PKGS="$(TEST_PKGS)"
	$(PY) -m pytest -q -n auto --maxprocesses 8

sysdeps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system libraries:$$missing"; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else \
	    echo "missing system libraries:$$missing -- install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory sysdeps PKGS="$(RUN_PKGS)"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
