"""The Deploy tab: serve a model on an OpenAI-compatible API, export it, push it to the Hub."""
