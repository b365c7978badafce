"""CareDesk's gateway: the one public face (web chat, agent console, JSON API)."""
