"""Global provider limits shared by every worker: rpm, tpm and concurrency admission,
cooldowns and the circuit, all on Redis's clock."""
