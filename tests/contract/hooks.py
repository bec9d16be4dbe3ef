"""schemathesis checks of this project's own, loaded through schemathesis.toml."""

import requests
import schemathesis

# Operations already shown to refuse a request without a key: once per run is enough.
_CHECKED = set()


@schemathesis.check
def api_key_required(ctx, response, case):
    """A request the mock accepted is refused with 401 UNAUTHORIZED without its x-api-key,
    and with an empty one."""
    if not 200 <= response.status_code < 300 or case.operation.label in _CHECKED:
        return None
    sent = response.request
    headers = {name: value for name, value in sent.headers.items() if name.lower() != "x-api-key"}
    for label, variant in (("without x-api-key", headers), ("with an empty x-api-key", {**headers, "x-api-key": ""})):
        answer = requests.request(sent.method, sent.url, data=sent.body, headers=variant, timeout=10)
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else None
        code = (body or {}).get("json", {}).get("code") if isinstance(body, dict) else None
        assert answer.status_code == 401 and code == "UNAUTHORIZED", (
            f"{case.operation.label} {label}: expected 401 UNAUTHORIZED, got {answer.status_code} {code}"
        )
    _CHECKED.add(case.operation.label)
    return None
