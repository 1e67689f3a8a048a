"""The studio's engine: everything that trains, stores, serves and scores models.

Nothing in this package imports Gradio (a test checks it), so the CLI, the tests and any other
front end can drive the same code the browser does.
"""
