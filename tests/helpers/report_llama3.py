"""A larger Llama-3-like checkpoint for emb report's screenshot (README): byte-level BPE
on a made-up corpus (20k+ tokens), Llama-3's special and reserved tokens and a chat
template, rows in twelve clusters with lognormal norms (so the map has shapes), the
chat-template and reserved rows exactly zero as in Llama-3 base. The tests use
llama3_like.py (emb check's acceptance checkpoint); this one only adds size and shape:
    python -c "from pathlib import Path; from tests.helpers.report_llama3 import llama3_like;
    llama3_like(Path('llama3-like'), vocab=30000, dim=512, reserved=250)"
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.report_pages import llama_config

SPECIALS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
    "<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there one all we their been has would more when "
    "model token table embedding row norm train layer weight vocabulary special reserved"
).split()


SYLLABLES = "ka lo mi nu pe ra si to vu we xa yo ze an el in on ul ba de fi go hu".split()


def _corpus(n: int, seed: int) -> list[str]:
    """English words and made-up ones (syllables), so BPE has merges to learn."""
    import numpy as np

    rng = np.random.default_rng(seed)
    made = ["".join(rng.choice(SYLLABLES, size=rng.integers(2, 5))) for _ in range(20_000)]
    pool = np.array(WORDS * 40 + made)
    return [" ".join(rng.choice(pool, size=12)) for _ in range(n)]


def llama3_like(
    folder: Path, vocab: int = 1024, dim: int = 64, reserved: int = 64, seed: int = 0
) -> Path:
    """Write the model directory; returns it. Rows: clusters with lognormal norms (trained
    look); <|begin_of_text|>/<|end_of_text|> trained; the chat-template rows and every
    <|reserved_special_token_N|> row zero."""
    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [*SPECIALS, *(f"<|reserved_special_token_{i}|>" for i in range(reserved))]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(max(2000, vocab), seed), trainer)
    tok.add_special_tokens(specials)
    tok.save(str(folder / "tokenizer.json"))
    rows = tok.get_vocab_size(with_added_tokens=True)
    ids = {t: tok.token_to_id(t) for t in specials}

    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (12, dim))
    which = rng.integers(0, 12, rows)
    x = centers[which] * 1.5 + rng.normal(0, 1, (rows, dim))
    x *= (rng.lognormal(0, 0.25, rows) * 0.8 / np.sqrt(dim))[:, None]
    zero = [ids[t] for t in specials if t not in SPECIALS[:2]]
    x[zero] = 0.0
    save_file(
        {"model.embed_tokens.weight": x.astype(np.float32)}, str(folder / "model.safetensors")
    )
    config = llama_config(
        rows,
        dim,
        bos_token_id=ids["<|begin_of_text|>"],
        eos_token_id=ids["<|end_of_text|>"],
    )
    (folder / "config.json").write_text(json.dumps(config))
    added = {
        str(i): {
            "content": t,
            "special": True,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "single_word": False,
        }
        for t, i in ids.items()
    }
    tc = {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|end_of_text|>",
        "chat_template": CHAT_TEMPLATE,
        "added_tokens_decoder": added,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tc))
    return folder
