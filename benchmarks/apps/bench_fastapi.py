"""fastapi: one FastAPI endpoint returning a small dict (serialised by FastAPI)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello, world!", "id": 42, "ok": True}
