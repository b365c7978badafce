"""The agent console: login, the live queue, taking over conversations."""
