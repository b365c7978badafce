"""CareDesk's action server: custom actions and form validation, one module per feature."""
