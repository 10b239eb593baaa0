"""Serves ``testapp:app`` through ``pyre_http.run()``, so that tests can check
run()'s own keyword arguments end to end:

    python serve_with_run.py PORT OPTIONS_JSON

OPTIONS_JSON is a dict of run() keyword arguments; lists of pairs (such as
``headers``) are turned into lists of tuples.
"""

import json
import os
import sys

import pyre_http


def main() -> None:
    port = int(sys.argv[1])
    options = json.loads(sys.argv[2])
    if "headers" in options:
        options["headers"] = [tuple(pair) for pair in options["headers"]]
    pyre_http.run(
        "testapp:app",
        host="127.0.0.1",
        port=port,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        lifespan="off",
        **options,
    )


if __name__ == "__main__":
    main()
