"""Fine-Tune Studio: a browser studio and CLI for fine-tuning LLMs, built on TRL.

``studio.engine`` does the work (models, data, training, runs, chat, scoring) and knows nothing
of the UI; ``studio.ui`` is the Gradio app; ``studio.cli`` the same engine calls from a shell.
"""

__version__ = "0.1.0"
