"""`dvc storage gc` against an upload of the same content during its run: content-addressed files are shared,
so the collector must never remove one that a new attachment row has come to reference."""

from __future__ import annotations

AGENCY = "000.00.12.H01"



async def test_gc_does_not_remove_a_blob_referenced_during_the_run(client, accounts, dossiers):
    import os
    import time
    from datetime import timedelta
    from pathlib import Path

    from app.core.settings import get_settings
    from app.dossiers.commands import collect_garbage
    from app.dossiers.storage import blob_key, get_store

    code = await dossiers.procedure(AGENCY)
    citizen = await accounts.citizen()
    draft = await dossiers.draft(client, citizen, code)
    first = (await dossiers.upload(client, citizen, draft["id"])).json()
    assert (await client.delete(f"/v1/dossiers/{draft['id']}/attachments/{first['id']}",
                                headers=citizen.headers)).status_code == 204
    blob = Path(get_settings().storage_dir) / blob_key(first["sha256"])
    old = time.time() - 2 * 3600
    os.utime(blob, (old, old))  # an unreferenced file from two hours ago

    real = get_store()

    class UploadDuringGc:
        """The store as gc sees it; the same content is uploaded again after gc listed the files."""

        def __getattr__(self, name):
            return getattr(real, name)

        async def remove_stale(self, key, cutoff):
            again = await dossiers.upload(client, citizen, draft["id"])
            assert again.status_code == 201, again.text
            return await real.remove_stale(key, cutoff)

    await collect_garbage(UploadDuringGc(), older_than=timedelta(hours=1))
    listed = (await client.get(f"/v1/dossiers/{draft['id']}/attachments", headers=citizen.headers)).json()["items"]
    assert len(listed) == 1
    assert blob.exists(), "the attachment row now points at a removed file"
