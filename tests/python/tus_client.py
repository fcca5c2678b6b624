"""Uploads a file to Lianxiao's tus endpoint with tuspy, a third-party tus client.

    tus_client.py SERVER TOKEN FILE [--stop-at N] [--url UPLOAD_URL] [--chunk N]

Without --url it creates the upload (metadata: an instructions file); with --url it resumes
that upload from the offset the server reports. --stop-at ends early, as a broken connection
would. Prints JSON: {"url": ..., "offset": ...}.
"""

import argparse
import json
import os

from tusclient import client


def main():
    p = argparse.ArgumentParser()
    p.add_argument("server")
    p.add_argument("token")
    p.add_argument("file")
    p.add_argument("--stop-at", type=int, default=None)
    p.add_argument("--url", default=None)
    p.add_argument("--chunk", type=int, default=64 * 1024)
    a = p.parse_args()

    tus = client.TusClient(
        a.server.rstrip("/") + "/v1/uploads",
        headers={"Authorization": "Bearer " + a.token},
    )
    uploader = tus.uploader(
        a.file,
        url=a.url,
        chunk_size=a.chunk,
        upload_checksum=True,  # tuspy sends sha1 checksums
        metadata={
            "purpose": "instructions",
            "kind": "file",
            "filename": os.path.basename(a.file),
            "filetype": "application/pdf",
        },
    )
    uploader.upload(stop_at=a.stop_at)
    print(json.dumps({"url": uploader.url, "offset": uploader.offset}))


if __name__ == "__main__":
    main()
