"""A small FastAPI application.

Endpoints:

* ``GET /items/{item_id}?q=&limit=``  path and query parameters
* ``POST /items``                     a JSON body validated by a pydantic model
* ``POST /upload``                    multipart form: a file and a text field
* ``GET /stream?count=``              newline-delimited JSON, streamed

Run it with::

    python -m pyre_http examples.fastapi_app:app --port 8000
"""

import asyncio
import hashlib
import json
from typing import Annotated, List, Optional

from fastapi import FastAPI, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

app = FastAPI(title="pyre-http FastAPI example")


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    quantity: int = 1
    tags: List[str] = []


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: Optional[str] = None, limit: int = 10):
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/items", status_code=201)
async def create_item(item: Item):
    return {**item.model_dump(), "total": round(item.price * item.quantity, 2)}


@app.post("/upload")
async def upload(
    file: Annotated[UploadFile, File()],
    description: Annotated[str, Form()],
):
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(64 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return {
        "filename": file.filename,
        "description": description,
        "size": size,
        "sha256": digest.hexdigest(),
    }


@app.get("/stream")
async def stream(count: int = 5):
    async def lines():
        for i in range(count):
            yield json.dumps({"n": i, "square": i * i}) + "\n"
            await asyncio.sleep(0)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
