"""The live services the checks and the lessons start: daphne, a real Redis, a headless Chromium, the
forwarder in front of a sandboxed server. May import kit.course and kit.isolation."""
