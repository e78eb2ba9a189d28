"""The `graphrisk` command line: parse, call the library, write. Nothing else in graphrisk prints."""
