"""A local Slack and LLM for tests and demos: emulators on 127.0.0.1, no network."""
