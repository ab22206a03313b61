"""The `lanyard` command: every human entry point, over gRPC to the services."""
