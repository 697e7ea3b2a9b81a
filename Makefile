# baton: a thin, self-documenting menu. Anything with logic lives in scripts/.
.DEFAULT_GOAL := help
.PHONY: help demo test man bench bench-promote bench-apply bench-publish bench-audit bench-remote bench-evidence bench-fleet

help: ## Show this menu
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

demo: ## Build baton and the examples, promote, render, publish, apply and audit in OCI layouts (installs nothing; keeps its directory)
	@bash scripts/demo.sh

test: ## fmt, clippy, every test (apt-installs what is missing, --no-install-recommends, no services; PyPI verifiers in target/pyvenv)
	@bash scripts/test.sh

man: ## Write baton's manual pages (one per command) into target/man
	@cargo build --quiet -p baton --bin baton && target/debug/baton man --dir target/man

bench: ## Time build, registry transfers and promotion against tar|gzip, pigz, skopeo and git
	@bash scripts/bench.sh

bench-promote: ## Only the promoter's part of `make bench`
	@bash scripts/bench-promote.sh

bench-apply: ## Only the applier's part of `make bench`
	@bash scripts/bench-apply.sh

bench-publish: ## Only the render and publish part of `make bench` (768 MiB: render, publish, against tar -xzf and tar -czf)
	@bash scripts/bench-publish.sh

bench-audit: ## Only the auditor's part of `make bench` (audit of 20,000 commits, verify of 1 GiB)
	@bash scripts/bench-audit.sh

bench-remote: ## Only the shared-state part of `make bench` (promote through an HTTPS remote, 16 at once)
	@bash scripts/bench-remote.sh

bench-evidence: ## Only the evidence part of `make bench` (what signing and attesting add to build and promote)
	@bash scripts/bench-evidence.sh

bench-fleet: ## Only the fleet part of `make bench` (50 agents over HTTPS: convergence, idle requests, memory)
	@bash scripts/bench-fleet.sh
