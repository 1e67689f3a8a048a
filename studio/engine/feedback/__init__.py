"""Feedback loops that turn opinions into training data: chat votes and an AI judge."""
