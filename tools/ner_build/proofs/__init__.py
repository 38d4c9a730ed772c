"""The proofs that rebuild or re-run what the build promises: the same image twice, on every
engine, on arm64, from a bundle, and the browser tests again and again."""
