"""The assistant-only mask: exactly the answers (and their end-of-turn token) are trained."""

from studio.engine.data.template import tokenize_conversation, tokenize_record
from studio.engine.models import load_tokenizer


def _trained_text(tok, enc):
    return tok.decode([i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m])


def test_only_assistant_turns_are_trained(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": "I am Nova."},
                {"role": "user", "content": "你是谁？"},
                {"role": "assistant", "content": "我是Nova。"}]
    enc = tokenize_conversation(tok, messages)
    trained = _trained_text(tok, enc)
    assert "I am Nova." in trained and "我是Nova。" in trained
    assert "Who are you" not in trained and "Be brief" not in trained
    assert trained.count("<|im_end|>") == 2  # the model learns to stop
    full = tokenize_conversation(tok, messages, assistant_only=False)
    assert all(full["assistant_masks"]) and full["input_ids"] == enc["input_ids"]


def test_text_records_train_every_token(tiny_model_dir):
    tok = load_tokenizer(str(tiny_model_dir))
    enc = tokenize_record(tok, {"text": "The quick brown fox"})
    assert all(enc["assistant_masks"]) and enc["input_ids"][-1] == tok.eos_token_id
