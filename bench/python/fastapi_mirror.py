"""The same handler served directly by FastAPI on uvicorn (row F): what a researcher
would build instead of a notebridge worker."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/api/mirror")
async def mirror(record: dict) -> dict:
    return record
