"""Uploads a file to Lianxiao's tus endpoint with tuspy, a third-party tus client.

    tus_client.py SERVER TOKEN FILE [--chunk BYTES] [--chunks N] [--url UPLOAD_URL]
                                    [--store URLS_FILE]

Without --url (and with nothing in --store for this file) it creates the upload, as a
teacher's instructions file. With --url, or with --store naming where an earlier run kept
the URL (tuspy's own resumability: URLs stored by file fingerprint), it resumes from the
offset the server reports. --chunks stops after that many chunks, as a broken connection
would. Prints JSON: {"url", "resumed_from", "offset", "chunks"}.
"""

import argparse
import json
import os

from tusclient import client
from tusclient.storage.filestorage import FileStorage


def main():
    p = argparse.ArgumentParser()
    p.add_argument("server")
    p.add_argument("token")
    p.add_argument("file")
    p.add_argument("--chunk", type=int, default=64 * 1024)
    p.add_argument("--chunks", type=int, default=None)
    p.add_argument("--url", default=None)
    p.add_argument("--store", default=None)
    a = p.parse_args()

    tus = client.TusClient(
        a.server.rstrip("/") + "/v1/uploads",
        headers={"Authorization": "Bearer " + a.token},
    )
    storage = {}
    if a.store:
        storage = {"store_url": True, "url_storage": FileStorage(a.store)}
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
        **storage,
    )
    # With a known URL tuspy has asked the server (HEAD) where to go on.
    resumed_from = uploader.offset if uploader.url else None
    size = uploader.get_file_size()
    sent = 0
    while (uploader.url is None or uploader.offset < size) and (
        a.chunks is None or sent < a.chunks
    ):
        uploader.upload_chunk()
        sent += 1
    print(
        json.dumps(
            {
                "url": uploader.url,
                "resumed_from": resumed_from,
                "offset": uploader.offset,
                "chunks": sent,
            }
        )
    )


if __name__ == "__main__":
    main()
