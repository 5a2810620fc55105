# marketloop: `make run` starts the product, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup assets browser lint demo-large clean

run: setup
	$(BIN)/marketloop run

test: setup browser
	$(BIN)/python -m pytest

setup: $(STAMP) assets

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.package-lock.json
	$(BIN)/python scripts/copy_vendor_assets.py

# Browser tests drive Debian's Chromium (Playwright's own download cannot be reached).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else \
	    echo "chromium is not installed: run 'sudo apt-get install chromium' (browser tests will be skipped)"; \
	  fi; }

lint: setup
	$(BIN)/ruff check marketloop tests bench

demo-large: setup
	$(BIN)/marketloop demo --large

clean:
	rm -rf $(VENV) node_modules marketloop/static/vendor staticfiles
