"""Browser tests: a running PayLink and headless Chromium. A package, so its package-scoped
processes stop when its last test ends instead of outliving it."""
