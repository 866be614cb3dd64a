"""The web workspace: a face over the application API (scheduler.api), served by uvicorn (`campaign serve`)."""
