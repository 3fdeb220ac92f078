"""HTTP and command-line surface: FastAPI app, auth, routes, problem+json, CLI."""
