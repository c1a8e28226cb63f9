# Cairn — every command works on a fresh clone with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | cksum | cut -d' ' -f1)
PORT   ?= 8000
URL    ?= http://localhost:$(PORT)
# The TypeScript client check (tests/typescript): its npm packages, installed when node and npm are here.
TS       := tests/typescript
TS_STAMP := $(TS)/node_modules/.installed
HAS_NODE := $(and $(shell command -v node 2>/dev/null),$(shell command -v npm 2>/dev/null))

.PHONY: install run api worker beat flower migrate seed seed-large admin test contract lint format bench client client-ts clean

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-* && touch $@

# The contract test touches the same stamp when it runs `npm ci` itself.
$(TS_STAMP): $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund
	touch $@

install: $(STAMP) $(if $(HAS_NODE),$(TS_STAMP))

run: install            ## API + worker + beat on the embedded default (SQLite, filesystem broker)
	$(BIN)/python manage.py run

api: install            ## production-style API: gunicorn with uvicorn workers (PORT, WEB_CONCURRENCY)
	$(BIN)/gunicorn -c gunicorn.conf.py 'app:create_app()'

worker: install         ## a Celery worker on every queue
	$(BIN)/celery -A celery_app worker -Q emails,audit,maintenance --loglevel $${LOG_LEVEL:-INFO}

beat: install           ## the Celery scheduler (outbox relay, daily purge)
	mkdir -p var && $(BIN)/celery -A celery_app beat --loglevel $${LOG_LEVEL:-INFO} --schedule var/celerybeat-schedule

flower: install         ## Flower, the Celery monitoring UI, on 127.0.0.1:5555 (FLOWER_ADDRESS, FLOWER_PORT, FLOWER_BASIC_AUTH)
	$(BIN)/celery -A celery_app flower --address=$${FLOWER_ADDRESS:-127.0.0.1} --port=$${FLOWER_PORT:-5555}

migrate: install        ## apply numbered migrations (safe to run twice, concurrently)
	$(BIN)/python manage.py migrate

seed: migrate           ## demo user and projects (idempotent)
	$(BIN)/python manage.py seed

seed-large: migrate     ## the benchmark data set (100k projects, 300k milestones, 1,000 users)
	$(BIN)/python manage.py seed --large

admin: migrate          ## create or promote an admin: make admin EMAIL=ops@example.com
	$(BIN)/python manage.py create-admin $(EMAIL)

test: install           ## the whole suite (SQLite + embedded broker; + PostgreSQL/Redis when TEST_DATABASE_URL/REDIS_URL are set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

contract: install       ## QA: schemathesis, every check and phase, against a running server (URL; CAIRN_QA_ADMIN_EMAIL/PASSWORD)
	$(BIN)/schemathesis run $(URL)/api/v1/openapi.json --checks all --phases examples,coverage,fuzzing,stateful --workers 1 $(CONTRACT_ARGS)

lint: install           ## ruff (lint + format check), the layers contract (lint-imports) and the spec validator
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -c "import yaml; from openapi_spec_validator import validate; validate(yaml.safe_load(open('openapi/openapi.yaml'))); print('openapi/openapi.yaml is valid')"

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install          ## the benchmark (needs PostgreSQL; see bench/README.md)
	$(BIN)/python -m bench.run

client: install         ## generate a typed Python client from the spec into build/client
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --path openapi/openapi.yaml --output-path build/client --meta none --overwrite --fail-on-warning

client-ts: $(TS_STAMP)  ## generate TypeScript types for openapi-fetch from the spec into build/client-ts (needs node)
	$(TS)/node_modules/.bin/openapi-typescript openapi/openapi.yaml --redocly $(TS)/redocly.yaml --output build/client-ts/openapi.d.ts

clean:
	rm -rf var build $(TS)/build .pytest_cache .ruff_cache .coverage htmlcov
