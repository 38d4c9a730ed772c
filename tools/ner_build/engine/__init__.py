"""The container engine and what stands around it: one interface over Docker and Podman, the
platforms, a throwaway registry, an engine with no route out, and the engines this host offers."""
