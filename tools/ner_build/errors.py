"""The one error type build checks raise: its message says what is wrong and what to do."""


class BuildCheckError(RuntimeError):
    """A pre-build check failed; nothing was built or tagged."""
