// Connectivity check against the chosen database.
RETURN 1 AS ok;
