"""`nox -s bench`: our image against the seed recipe, measured in one run on this machine, under
load and per platform."""
