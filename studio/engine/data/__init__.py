"""Training data: read the files people bring, convert them to one shape, check, edit, preview.

``read`` reads files (json, jsonl, csv, parquet, txt, md) and hub ids, ``dataset_info`` /
``dataset_info_rows`` read LLaMA-Factory ``dataset_info.json`` entries, ``formats`` detects and
converts the community's row formats and ``messages`` their message shapes (content parts, tool
calls, reasoning, turn weights), ``validate`` lists row problems, ``template`` renders a
conversation with the chat template (tools and reasoning in its own slots or the fallback) and its
trained-token mask, ``token_cache`` caches that work, and ``store`` / ``edit`` / ``preview`` serve
the Data tab (listing, uploads, saving, row edits, "as the model sees it").
"""
