"""`semsearch serve`: an HTTP API and a search page over one index folder (the `server` extra: FastAPI + uvicorn).

Modules: `app` (the FastAPI application), `requests` (validated search parameters), `run` (start uvicorn,
announce the server), `discovery` (the `server.json` file in the index folder and the CLI's stdlib client).
Only `app` and `run` import FastAPI or uvicorn; importing this package or `discovery` stays light.
"""

EXTRA_HINT = "pip install 'semsearch[server]'"
