"""The core every CareDesk service shares: database models and queries, company facts, triage
and the shared settings. The gateway (bot/) and the action server (actions/) both build on it;
it imports neither."""
