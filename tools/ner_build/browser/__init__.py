"""Real Chromium against the app: the browser, its private network namespace and loopback
bridge, the one page object, concurrent sessions (their samples and their results), and the
evidence a failing test leaves."""
