"""photocomic's front doors: the command line and the MCP server."""
