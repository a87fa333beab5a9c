"""A FastAPI app with ordinary routes: waypost sets root_path, so routes and docs just work."""

from fastapi import FastAPI, Request

app = FastAPI(title="fastapi-hello")


@app.get("/predict")
def predict(name: str) -> dict[str, str]:
    return {"predicted_first_letter": name[:1].lower(), "name": name}


@app.get("/where")
def where(request: Request) -> dict[str, str]:
    return {"root_path": request.scope.get("root_path", ""), "url": str(request.url_for("where"))}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
