"""The ceiling of benchmarks/decisions_load.py: a bare FastAPI app answering
`POST /v1/decisions` with a constant JSON object, served by uvicorn exactly as `kaimen serve`
serves kaimen (one process, `log_config=None`, `access_log=False`, uvicorn's default loop
and HTTP parser).

    python benchmarks/hello_world_server.py --port 8611

The route is a coroutine that reads nothing: the framework's own cost per request, which no
endpoint on the same stack can undercut. The path is the decisions' path so that one load
client sends byte-identical requests to both.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/v1/decisions")
async def hello() -> dict[str, str]:
    return {"message": "Hello World"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    uvicorn.run(app, host=options.host, port=options.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
