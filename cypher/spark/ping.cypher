// Connectivity check through the connector (query read mode): one row, one column.
RETURN 1 AS ok;
