# The commands people run; each is a one-liner the README shows too.
.PHONY: demo test unit lint fmt e2e bench microbench

test:
	tests/run.sh

# Unit tests only: no NATS, Docker or browser needed.
unit:
	cargo test --workspace --lib --bins

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

e2e:
	cargo test -p adic-tests

bench:
	PRESET=comparison loadgen/bench.sh

microbench:
	cargo bench -p adic-edge --bench hot_paths

demo:
	cargo run --release -p adic-edge -- demo
