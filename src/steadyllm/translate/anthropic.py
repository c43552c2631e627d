"""Anthropic Messages and OpenAI chat completions, translated both ways. No I/O.

The public names of both directions in one place:

- the gateway's ``/v1/messages`` endpoint (Anthropic in, Anthropic out) is
  :mod:`steadyllm.translate.anthropic_inbound`: :func:`messages_request_to_openai`,
  then :func:`openai_response_to_messages` or :func:`openai_stream_to_messages`;
- the ``anthropic`` provider (OpenAI in, OpenAI out) is
  :mod:`steadyllm.translate.anthropic_outbound`: :func:`openai_request_to_messages`,
  then :func:`messages_response_to_openai` or :class:`MessagesEventsToOpenAIChunks`.
"""

from __future__ import annotations

from steadyllm.translate.anthropic_inbound import (
    OpenAIChunksToMessagesEvents,
    messages_request_to_openai,
    openai_response_to_messages,
    openai_stream_to_messages,
)
from steadyllm.translate.anthropic_outbound import (
    MessagesEventsToOpenAIChunks,
    messages_response_to_openai,
    openai_request_to_messages,
)

__all__ = [
    "MessagesEventsToOpenAIChunks",
    "OpenAIChunksToMessagesEvents",
    "messages_request_to_openai",
    "messages_response_to_openai",
    "openai_request_to_messages",
    "openai_response_to_messages",
    "openai_stream_to_messages",
]
