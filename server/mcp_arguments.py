"""The arguments only an MCP door has (every other argument is a field of its operation's
request, read by ``@tool``).

No ``from __future__ import annotations``: the SDK reads these types at registration.
"""

from photocomic.tools.contract import WaitSeconds

Wait = WaitSeconds  # how long a tool call waits for a job before answering with its job_id
