"""schemathesis hooks for tests/fuzz/run.sh (loaded through SCHEMATHESIS_HOOKS).

tus PATCH and POST bodies are `application/offset+octet-stream`: raw bytes, sent as
schemathesis sends `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# CPython 3.11's ast.parse can fail with "SystemError: AST constructor recursion depth
# mismatch" (gh-106905) on schemathesis's large modules, and hypothesis parses them only to
# name a filter's lambda in a repr. A plain name instead keeps the run going.
from hypothesis.internal import lambda_sources

_lambda_description = lambda_sources.lambda_description


def _lambda_description_or_plain(f):
    try:
        return _lambda_description(f)
    except SystemError:
        return "lambda"


lambda_sources.lambda_description = _lambda_description_or_plain
