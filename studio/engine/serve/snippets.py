"""Copy-and-paste calls for a served model: a curl line and a Python ``openai`` snippet.

The API key never appears in them: with a key set they read it from ``$STUDIO_API_KEY``, so a
snippet can be pasted into a chat or a ticket without leaking it.
"""

from __future__ import annotations

import json
import shlex

KEY_VARIABLE = "STUDIO_API_KEY"


def curl(url: str, model: str, prompt: str, keyed: bool) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}]},
                      ensure_ascii=False)
    auth = f' -H "Authorization: Bearer ${KEY_VARIABLE}"' if keyed else ""
    return (f"curl {url}/chat/completions -H \"Content-Type: application/json\"{auth} "
            f"-d {shlex.quote(body)}")


def python(url: str, model: str, prompt: str, keyed: bool) -> str:
    key = f'os.environ["{KEY_VARIABLE}"]' if keyed else '"none"'
    head = "import os\n\n" if keyed else ""
    return (f"{head}from openai import OpenAI\n\n"
            f"client = OpenAI(base_url={url!r}, api_key={key})\n"
            f"reply = client.chat.completions.create(\n"
            f"    model={model!r},\n"
            f"    messages=[{{\"role\": \"user\", \"content\": {prompt!r}}}],\n)\n"
            f"print(reply.choices[0].message.content)\n")
