"""Build-host tooling for ner-app: runs where images are built, never ships in the image."""
