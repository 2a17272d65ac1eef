"""Which stored tensor is the input embedding, which the LM head: by name, across families."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from emb_cli.errors import TensorNotFound

# Name suffixes, each with the family that writes it.
INPUT_SUFFIXES = (
    "embed_tokens.weight",  # Llama, Mistral, Qwen, Gemma, DeepSeek (model.embed_tokens)
    "wte.weight",  # GPT-2 (transformer.wte, or bare wte)
    "word_embeddings.weight",  # BERT, RoBERTa, BLOOM (embeddings.word_embeddings)
    "tok_embeddings.weight",  # Meta's original Llama checkpoints
    "token_embd.weight",  # GGUF
    "embed_in.weight",  # GPT-NeoX / Pythia
    "shared.weight",  # T5, BART
    "backbone.embeddings.weight",  # Mamba, FalconMamba
    "rwkv.embeddings.weight",  # RWKV
)
HEAD_SUFFIXES = (
    "lm_head.weight",
    "embed_out.weight",  # GPT-NeoX
    "cls.predictions.decoder.weight",  # BERT MLM
    "lm_head.decoder.weight",  # RoBERTa MLM
)
HEAD_EXACT = ("output.weight", "model.output.weight")  # Meta's Llama, GGUF
POSITION_SUFFIXES = ("wpe.weight", "position_embeddings.weight", "embed_positions.weight")
TOKEN_TYPE_SUFFIXES = ("token_type_embeddings.weight",)
# A copy inside a numbered layer is not the model's input table: DeepSeek-V3's
# multi-token-prediction layer 61 holds its own embed_tokens and shared_head.head.
_IN_LAYER = re.compile(r"(^|\.)(layers|h|layer|blocks)\.\d+\.")
_MTP_HEAD = re.compile(r"shared_head\.head\.weight$")
# Vision/audio towers have their own patch or token embeddings.
_OTHER_TOWER = re.compile(r"(vision|visual|audio|image|speech)", re.I)

Role = Literal[
    "input_embedding",
    "output_head",
    "extra_embedding",  # an input table inside a numbered layer (DeepSeek-V3's MTP layer)
    "extra_head",
    "position_embedding",
    "token_type_embedding",
    "scale",  # an fp8 `_scale_inv` of the input table or the head
]
ROLE_INPUT: Final[Role] = "input_embedding"
ROLE_HEAD: Final[Role] = "output_head"
ROLE_EXTRA_INPUT: Final[Role] = "extra_embedding"
ROLE_EXTRA_HEAD: Final[Role] = "extra_head"
ROLE_POSITION: Final[Role] = "position_embedding"
ROLE_TOKEN_TYPE: Final[Role] = "token_type_embedding"
ROLE_SCALE: Final[Role] = "scale"


def classify(name: str) -> Role | None:
    if name.endswith("_scale_inv"):
        base = name[: -len("_scale_inv")]
        return ROLE_SCALE if classify(base) in (ROLE_INPUT, ROLE_HEAD) else None
    if _MTP_HEAD.search(name):
        return ROLE_EXTRA_HEAD
    if name.endswith(INPUT_SUFFIXES):
        return ROLE_EXTRA_INPUT if _IN_LAYER.search(name) else ROLE_INPUT
    if name.endswith(HEAD_SUFFIXES) or name in HEAD_EXACT:
        return ROLE_EXTRA_HEAD if _IN_LAYER.search(name) else ROLE_HEAD
    if name.endswith(POSITION_SUFFIXES):
        return ROLE_POSITION
    if name.endswith(TOKEN_TYPE_SUFFIXES):
        return ROLE_TOKEN_TYPE
    return None


def _shared_table(pool: list[str]) -> list[str]:
    """T5 and BART state dicts hold `shared.weight` and its encoder/decoder copies.

    The three are one Parameter in the model (`encoder.embed_tokens = self.shared`);
    torch.save and older save_pretrained write all three names.
    """
    shared = [n for n in pool if n == "shared.weight" or n.endswith(".shared.weight")]
    if len(shared) != 1:
        return pool
    prefix = shared[0][: -len("shared.weight")]
    copies = {f"{prefix}encoder.embed_tokens.weight", f"{prefix}decoder.embed_tokens.weight"}
    return shared if set(pool) - set(shared) <= copies else pool


@dataclass(frozen=True)
class Choice:
    name: str | None
    reason: str
    candidates: tuple[str, ...]


def choose(names: list[str], role: Role, where: str, *, required: bool) -> Choice:
    """Pick the one tensor of `role`; several plausible ones -> ask for --tensor."""
    found = [n for n in names if classify(n) == role]
    text = [n for n in found if not _OTHER_TOWER.search(n)]
    pool = _shared_table(text or found)
    if len(pool) == 1:
        others = [n for n in names if classify(n) in (ROLE_EXTRA_INPUT, ROLE_EXTRA_HEAD)]
        why = f"the only {role.replace('_', ' ')} by name"
        if others:
            why += f" ({', '.join(others)} sit inside a numbered layer: extra copies)"
        copies = [n for n in text or found if n != pool[0]]
        if copies:
            why += f" ({', '.join(copies)} are copies of it, one Parameter in the model)"
        return Choice(pool[0], why, tuple(found))
    if len(pool) > 1:
        raise TensorNotFound(
            f"{where} has several {role.replace('_', ' ')} candidates: {', '.join(pool)}; "
            "pass --tensor NAME to pick one"
        )
    if required:
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise TensorNotFound(
            f"no embedding tensor in {where}; looked for names ending in "
            f"{', '.join(INPUT_SUFFIXES)} (any prefix); it has: {shown or 'no tensors'}; "
            "pass --tensor NAME"
        )
    return Choice(None, "no tensor of that role by name", ())
