"""The CareDesk database: models shared by the action server and the gateway."""
