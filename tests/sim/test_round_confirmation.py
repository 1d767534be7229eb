"""What a round did is confirmed from the journal, not planned a second time when the journal already agrees.

Every path a round uploads or downloads used to be planned once more (rows read, decoded and the whole batch
planned again) only to find nothing to do: for a first sync of thousands of files that doubled the planning. Now
the paths whose three rows agree after the round (`Journal.settled_among`) are left alone, and only the others
are planned again: a file changed while its upload ran must still reach the server."""

from __future__ import annotations

from collections.abc import Sequence

from simdevice import PREFIX
from simworld import Simulation

from ferrysync.daemon.transfer.upload import UploadItem, UploadOutcome


def test_what_a_round_uploaded_and_recorded_is_not_planned_again(sim: Simulation) -> None:
    amy, ben = sim.devices
    for i in range(6):
        (amy.root / f"f{i}.txt").write_bytes(b"v1 %d" % i)
        amy.events.append(f"f{i}.txt")
    amy.turn()
    assert {f"f{i}.txt": b"v1 %d" % i for i in range(6)}.items() <= sim.cloud.live_files(PREFIX).items()
    assert not amy.folder._pending, "the uploaded paths agree in all three trees: nothing is left to plan"
    sim.settle()
    assert all((ben.root / f"f{i}.txt").read_bytes() == b"v1 %d" % i for i in range(6))
    assert not ben.folder._pending, "nor is what a round downloaded"


def test_a_file_changed_while_its_upload_ran_is_planned_again_and_its_new_bytes_arrive(sim: Simulation) -> None:
    amy, ben = sim.devices
    target = amy.root / "notes.txt"
    target.write_bytes(b"first draft")
    amy.events.append("notes.txt")
    upload_many = amy.folder.ctx.uploader.upload_many

    def edited_meanwhile(items: Sequence[UploadItem], **kw: object) -> list[UploadOutcome]:
        out = upload_many(items, **kw)  # type: ignore[arg-type]
        target.write_bytes(b"second draft, saved while the first was being sent")
        amy.events.append("notes.txt")
        amy.index()  # the indexer records the new bytes before the round commits the old ones
        return out

    amy.folder.ctx.uploader.upload_many = edited_meanwhile  # type: ignore[method-assign]
    amy.turn()
    amy.folder.ctx.uploader.upload_many = upload_many  # type: ignore[method-assign]
    assert "notes.txt" in amy.folder._pending, "the local row no longer matches what was committed"
    sim.settle()
    assert (ben.root / "notes.txt").read_bytes() == b"second draft, saved while the first was being sent"
