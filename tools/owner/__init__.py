"""The owner of a library: one engine per data folder (stores, one model, jobs), the table of
operations every door calls, the socket server, and the client a door talks to it with."""
