"""The simulated upstream's engine: pure, deterministic replies in both wire formats.

This module is the engine's public face; the work is done in
:mod:`~steadyllm.sim.generation` (answering), :mod:`~steadyllm.sim.openai_chat`,
:mod:`~steadyllm.sim.anthropic_messages` and :mod:`~steadyllm.sim.embeddings`
(the wire formats), :mod:`~steadyllm.sim.tokenizer` and
:mod:`~steadyllm.sim.schema_values`.

Everything here is pure: the same request body (and ``salt``) gives the same reply,
byte for byte, because the random generator is seeded from a hash of the body
(including its ``seed``). Fields that only cut or carry the answer (``stream``,
``stream_options``, ``max_tokens``, ``max_completion_tokens``, ``stop``, ``n``,
``user``, ``metadata``) are left out of the hash, so a truncated reply is a prefix
of the full one and a streamed reply joins up to the whole one. Choice ``i`` of
``n`` is seeded with ``i`` as well.

Replies are labelled: text starts with ``[simulated]`` and echoes the first words
of the last user message. With ``tools``, the reply is a tool call when
``tool_choice`` is ``"required"`` or names a function, or when the last user
message mentions a tool's name and no tool result follows it; its arguments are
the smallest values valid for the tool's parameter schema (see
:mod:`steadyllm.sim.schema_values`).
``response_format`` ``json_object`` gives a JSON object, ``json_schema`` a value
valid against the schema. A stop sequence cuts the text before it (finish
``stop``); ``max_tokens`` cuts it to that many tokens (finish ``length``).

Usage: tokens follow :mod:`steadyllm.sim.tokenizer` (a word or one punctuation
mark each). Prompt tokens are, per message, ``MESSAGE_OVERHEAD`` (3) plus the
tokens of its text content and of any tool-call names and arguments it carries;
tool definitions are not counted. Completion tokens are the tokens of the reply
text, or of a tool call's name plus arguments, summed over the ``n`` choices.

Markers in the last user message steer a reply for tests:

``[sim:invalid-json]``
    The reply text, and any tool-call arguments, are deliberately invalid JSON.
``[sim:echo-system]``
    The reply quotes the system prompt verbatim (system and developer messages
    joined by a newline): for prompt-leak tests.

The API key ``sim-invalid-key`` (``INVALID_API_KEY``) is refused with 401 by both
the HTTP simulator and the in-process ``sim`` provider: for auth-error tests.
"""

from steadyllm.sim.anthropic_messages import messages_events, messages_prompt, messages_reply
from steadyllm.sim.embeddings import DEFAULT_DIMENSIONS, embed_text, embeddings_reply
from steadyllm.sim.generation import (
    ECHO_SYSTEM_MARKER,
    INVALID_API_KEY,
    INVALID_JSON_MARKER,
    LABEL,
    MESSAGE_OVERHEAD,
    Completion,
    Prompt,
    SimRequestError,
    complete,
)
from steadyllm.sim.openai_chat import chat_chunks, chat_prompt, chat_reply
from steadyllm.sim.tokenizer import count_tokens, tokenize

__all__ = [
    "DEFAULT_DIMENSIONS",
    "ECHO_SYSTEM_MARKER",
    "INVALID_API_KEY",
    "INVALID_JSON_MARKER",
    "LABEL",
    "MESSAGE_OVERHEAD",
    "Completion",
    "Prompt",
    "SimRequestError",
    "chat_chunks",
    "chat_prompt",
    "chat_reply",
    "complete",
    "count_tokens",
    "embed_text",
    "embeddings_reply",
    "messages_events",
    "messages_prompt",
    "messages_reply",
    "tokenize",
]
