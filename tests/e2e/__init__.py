"""End-to-end tests: real PayLink processes. A package, so its package-scoped worker and beat
stop when its last test ends instead of sweeping the session database under later tests."""
