"""A checkpoint's chat template: where it is written, and a conversation rendered through it.

Rendered as transformers' apply_chat_template renders it (utils/chat_template_utils.py): a
jinja2 ImmutableSandboxedEnvironment (templates from the Hub are untrusted code) with
trim_blocks and lstrip_blocks, the loopcontrols extension, `{% generation %}` blocks, its
`tojson` filter and `raise_exception`/`strftime_now` globals, and the tokenizer's special
tokens (`bos_token`, `eos_token` ...) as variables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from emb_cli.errors import InputError, first_line
from emb_cli.sources.base import TableSource

if TYPE_CHECKING:
    import jinja2

# tokenizer_config.json keys of the special tokens transformers hands the template
SPECIAL_KEYS: Final = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


def template_text(source: TableSource) -> str | None:
    """tokenizer_config.json's `chat_template` (every named one, for a list of them), else
    the GGUF `tokenizer.chat_template`; None without one."""
    tc = source.tokenizer_config() or {}
    template = tc.get("chat_template")
    if isinstance(template, list):  # [{"name": ..., "template": ...}, ...]
        parts = [t.get("template") for t in template if isinstance(t, dict)]
        template = "\n".join(p for p in parts if isinstance(p, str)) or None
    return template if isinstance(template, str) and template else None


def token_content(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def special_tokens_map(source: TableSource) -> dict[str, str]:
    """The variables transformers passes the template: bos_token, eos_token ..."""
    tc = source.tokenizer_config() or {}
    out = {k: token_content(tc.get(k)) for k in SPECIAL_KEYS}
    return {k: v for k, v in out.items() if v is not None}


def _environment() -> jinja2.Environment:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}`: marks assistant text; rendered as is."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            call = self.call_method("_body")
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        def _body(self, caller: Callable[[], str]) -> str:
            return caller()

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


@dataclass(frozen=True)
class ChatTemplate:
    """A compiled template and the variables it is rendered with."""

    template: jinja2.Template
    variables: dict[str, str]

    def render(self, messages: list[Any]) -> str:
        """One conversation as transformers renders it (no generation prompt)."""
        try:
            return self.template.render(
                messages=messages,
                tools=None,
                documents=None,
                add_generation_prompt=False,
                **self.variables,
            )
        except Exception as exc:  # a template is code: TemplateError, TypeError, KeyError ...
            raise InputError(f"the chat template refused the messages: {first_line(exc)}") from exc


def compile_chat_template(source: TableSource) -> ChatTemplate | None:
    """The checkpoint's chat template, compiled once; None without one."""
    import jinja2

    text = template_text(source)
    if text is None:
        return None
    try:
        template = _environment().from_string(text)
    except jinja2.TemplateError as exc:
        raise InputError(f"the chat template does not compile: {first_line(exc)}") from exc
    return ChatTemplate(template, special_tokens_map(source))
