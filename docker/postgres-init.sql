-- Runs once, when the postgres container initialises an empty data volume.
-- POSTGRES_DB (griddesk) is the warehouse and already exists; Airflow keeps its metadata apart.
CREATE DATABASE airflow;
