# baton: a thin, self-documenting menu. Anything with logic lives in scripts/.
.DEFAULT_GOAL := help
.PHONY: help demo test bench

help: ## Show this menu
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

demo: ## Build, list, inspect, verify and unpack the examples in a temporary store (no server needed)
	@bash scripts/demo.sh

test: ## fmt check, clippy -D warnings, then every test (installs skopeo when missing)
	@bash scripts/test.sh

bench: ## Time `baton bundle build` on ~1 GiB against tar|gzip|sha256sum and tar|pigz
	@bash scripts/bench.sh
