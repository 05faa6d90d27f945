"""The twin's HTTP API: OGC API - Features with time travel, edits and access control."""
