"""Images as files: the one archive reader and writer, the canonical form (normalize), the OCI
layout, what each layer is made of, and comparing two images."""
