"""A Flask app with ordinary routes: waypost serves it under its version prefix unchanged."""

from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.get("/")
def index() -> dict[str, str]:
    # url_for carries the prefix the request came in under (version, latest or alias).
    return {"predict": url_for("predict", name="Ada"), "health": url_for("health")}


@app.get("/predict")
def predict() -> object:
    name = request.args.get("name", "")
    return jsonify(predicted_first_letter=name[:1].lower(), name=name)


@app.post("/predict")
def predict_json() -> object:
    body = request.get_json(silent=True) or {}
    name = str(body.get("name", ""))
    return jsonify(predicted_first_letter=name[:1].lower(), name=name)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
