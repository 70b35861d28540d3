"""Tokenizers for the torch engine: a model's own (Hugging Face, incl. from a GGUF file) or, for models
with random weights (benchmarks, tests), bytes."""

from pathlib import Path


class ByteTokenizer:
    """UTF-8 bytes as tokens 0–255 and one end-of-text token; a plain chat format."""

    eos = 256
    vocab_size = 257

    def encode(self, text: str) -> list[int]:
        return list(text.encode())

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if i < 256).decode(errors="replace")

    def chat_prompt(self, messages: list[dict]) -> tuple[str, list[str]]:
        text = "".join(f"<{m.get('role', 'user')}>\n{m['content']}\n" for m in messages)
        return text + "<assistant>\n", ["\n<"]

    @property
    def stop_ids(self) -> set[int]:
        return {self.eos}


class HFTokenizer:
    """A transformers tokenizer and its chat template."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)

    @classmethod
    def from_path(cls, path: Path) -> "HFTokenizer":
        from transformers import AutoTokenizer

        path = Path(path)
        if path.suffix == ".gguf":
            return cls(AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name))
        return cls(AutoTokenizer.from_pretrained(path))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def chat_prompt(self, messages: list[dict]) -> tuple[str, list[str]]:
        if not self.tokenizer.chat_template:
            return "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:", ["\nuser:"]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text, []

    @property
    def stop_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        for name in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>"):
            token = self.tokenizer.convert_tokens_to_ids(name)
            if isinstance(token, int) and token != self.tokenizer.unk_token_id:
                ids.add(token)
        return {i for i in ids if i is not None}
