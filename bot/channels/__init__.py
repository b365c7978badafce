"""Customer channels: each turns its own protocol into calls on the router."""
