-- Rasa's tracker store gets a database of its own beside CareDesk's (POSTGRES_DB), so Rasa's
-- tables never meet CareDesk's migrations. Runs once, when the data volume is first made.
-- The name is the one in docker/.env.example's TRACKER_STORE_URL.
CREATE DATABASE caredesk_tracker;
