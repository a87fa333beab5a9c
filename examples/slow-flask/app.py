"""A Flask app with a slow route, for waking-from-sleep and scale-up benchmarks.

``/sleep?s=1.5`` holds its answer that long (one request per worker at a time:
gunicorn's sync worker), so a burst of them is concurrency the autoscaler sees.
"""

import os
import time

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/sleep")
def sleep() -> object:
    seconds = min(float(request.args.get("s", "1")), 30.0)
    time.sleep(seconds)
    return jsonify(slept=seconds, pid=os.getpid())


@app.get("/predict")
def predict() -> object:
    name = request.args.get("name", "")
    return jsonify(predicted_first_letter=name[:1].lower(), name=name)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
