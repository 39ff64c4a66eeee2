"""The FastAPI front door: routes, auth, request/response schemas."""
