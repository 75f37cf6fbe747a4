"""The image's HEALTHCHECK: exit 0 when /health answers 200 on this container's port, 1 otherwise."""

import os
import sys
import urllib.request

port = os.environ.get("CHATR_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
