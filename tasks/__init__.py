"""Task adapters: one file per task, registered with `bench.registry.task`."""
