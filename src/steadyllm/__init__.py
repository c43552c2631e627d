"""steadyllm: a reliability and lifecycle gateway for LLM applications."""

from typing import TYPE_CHECKING, Any

from steadyllm.call import Call, Principal, Response, Usage
from steadyllm.errors import GatewayError

if TYPE_CHECKING:
    from steadyllm.gateway import Gateway

__all__ = ["Call", "Gateway", "GatewayError", "Principal", "Response", "Usage"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Gateway pulls in the whole engine; import it only when asked for.
    if name == "Gateway":
        from steadyllm.gateway import Gateway

        return Gateway
    raise AttributeError(name)
