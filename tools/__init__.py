"""photocomic's agentic tool layer: indexing, search and comics. No MCP imports here."""
