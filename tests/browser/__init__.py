"""Browser tests: the console in Debian's Chromium, driven by Playwright."""
