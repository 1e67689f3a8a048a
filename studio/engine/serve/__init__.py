"""The OpenAI-compatible server: continuous batching over the chat engine, and its HTTP face."""
