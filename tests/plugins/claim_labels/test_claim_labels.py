"""Signed claim labels end to end: the CLI prints a PDF, its QR codes decode (zxing-cpp
on a pypdfium2 rendering) to codes the hub accepts once, over REST and /ui/claim; a
concurrent double use has one winner; a revoked batch is refused."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import stat
from urllib.parse import unquote

import pypdfium2
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlinks.core.errors import HubError
from gridlinks.core.services.bootstrap import default_tenant
from gridlinks.core.storage.models import DeviceProfile
from gridlinks.plugins.claim_labels import cli as labels_cli
from gridlinks.plugins.claim_labels.codes import make_code, read_code
from gridlinks.plugins.claim_labels.models import ClaimLabel
from gridlinks.plugins.claim_labels.service import ClaimLabels
from tests.browser.support import DashboardClient
from tests.claim_support import claim, customer_user, new_device
from tests.support import hub_config, start_hub, stop_hub

NAMES = ["label-dev-1", "label-dev-2", "label-dev-3", "Zähler 4"]


def decode_pdf(path) -> list[str]:
    texts = []
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        for page in pdf:
            image = page.render(scale=200 / 72).to_pil()  # 200 dpi
            texts += [barcode.text for barcode in zxingcpp.read_barcodes(image)]
    finally:
        pdf.close()
    return texts


async def command(running, *argv: str) -> str:
    """Run ``gridlinks claim-labels ARGV`` on the running hub, in this process (the
    command's own parser and code; a subprocess per call is too slow on a busy machine)."""
    parser = argparse.ArgumentParser()
    labels_cli.configure(parser)
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # rich prints to the current sys.stdout
        assert await labels_cli.run(running.hub, parser.parse_args(argv)) == 0
    return printed.getvalue()


async def make_labels(tmp_path, running, *extra: str) -> tuple[str, dict[str, str]]:
    """(batch id, name -> code) from the command."""
    devices = tmp_path / "devices.csv"
    devices.write_text("name\n" + "\n".join(NAMES) + "\n", encoding="utf-8")
    profile = await DeviceProfile.get(tenant=await default_tenant(running.hub), is_default=True)
    out, codes = tmp_path / "labels.pdf", tmp_path / "codes.csv"
    printed = await command(running, "--profile", profile.name, "--devices", str(devices), "--out", str(out),
                            "--codes-out", str(codes), "--valid-until", "2099-12-31", *extra)
    batch = next(line.split(":", 1)[1].strip() for line in printed.splitlines() if line.startswith("batch:"))
    for path in (out, codes):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(codes.read_text(encoding="utf-8"))))
    assert rows[0] == ["name", "code"]
    return batch, dict(rows[1:])


async def test_label_codes_decode_and_are_accepted_once(tmp_path, db_url):
    running = await start_hub(hub_config(tmp_path / "data", db_url))
    try:
        batch, codes = await make_labels(tmp_path, running, "--url", "https://hub.example:8080/")
        # Every QR code on the sheet decodes to a claim link carrying the device's code.
        links = decode_pdf(tmp_path / "labels.pdf")
        assert len(links) == len(NAMES)
        decoded = {}
        for link in links:
            assert link.startswith("https://hub.example:8080/ui/claim#device=")
            fragment = dict(part.split("=", 1) for part in link.split("#", 1)[1].split("&"))
            decoded[unquote(fragment["device"])] = fragment["secret"]
        assert decoded == codes
        public = running.hub.services["claim_labels"]
        content = read_code((await public.key()).public_key(), codes["label-dev-1"])
        assert content is not None and content.device_name == "label-dev-1" and content.batch == batch

        for name in NAMES:  # the devices connect later
            await new_device(running, name)
        _, alice = await customer_user(running, "Acme", "alice@acme.test")
        _, bob = await customer_user(running, "Globex", "bob@globex.test")

        # Another device's code, or a forged one, does not open a device.
        assert (await claim(running, alice, "label-dev-1", codes["label-dev-2"]))[0] == 400
        code = codes["label-dev-1"]
        forged = code[:-10] + ("B" if code[-10] != "B" else "C") + code[-9:]
        assert (await claim(running, alice, "label-dev-1", forged))[0] == 400
        status, body = await claim(running, alice, "label-dev-1", codes["label-dev-1"])
        assert status == 200, body
        # Released again, the device cannot be claimed with the used code.
        status, _ = await running.delete("/api/customer/device/label-dev-1/claim", token=alice)
        assert status == 200
        assert (await claim(running, bob, "label-dev-1", codes["label-dev-1"]))[0] == 400

        # Two customers scan one label at the same moment: one wins.
        results = await asyncio.gather(claim(running, alice, "label-dev-2", codes["label-dev-2"]),
                                       claim(running, bob, "label-dev-2", codes["label-dev-2"]))
        assert sorted(status for status, _ in results) == [200, 400]

        # The dashboard's claim page takes the code as the secret.
        await customer_user(running, "Acme", "carol@acme.test")
        client = DashboardClient(running.base_url)
        try:
            assert await client.login("carol@acme.test", "customer-password-1") == 200
            status, _, response = await client.post("/ui/claim", {"device": "Zähler 4", "secret": codes["Zähler 4"]})
            assert status == 303, status
            status, _, _ = await client.post("/ui/claim", {"device": "label-dev-3", "secret": "not the code"})
            assert status == 400
        finally:
            await client.close()

        # Revoking the batch is one command; its unused codes are refused from then on.
        await command(running, "revoke", "--batch", batch)
        assert (await claim(running, alice, "label-dev-3", codes["label-dev-3"]))[0] == 400
        listing = await command(running, "list")
        assert batch in listing and "revoked" in listing and "3 used" in listing
        _, audit = await running.admin("GET", "/api/audit/logs?action=claim_labels_revoked")
        assert audit["totalElements"] == 1
    finally:
        await stop_hub(running)


async def test_bad_inputs_are_refused_with_a_reason(tmp_path):
    running = await start_hub(hub_config(tmp_path / "data"))
    try:
        # Nodes sharing a database (here: two services) race to make the label key: one key wins for all.
        nodes = [ClaimLabels(running.hub) for _ in range(3)]
        keys = await asyncio.gather(*(node.key() for node in nodes))
        assert len({k.public_key().public_bytes_raw() for k in keys}) == 1
        bad = tmp_path / "bad.csv"
        bad.write_text("ok-name\n" + "x" * 300 + "\n")
        good = tmp_path / "good.csv"
        good.write_text("ok-name\n")
        profile = (await DeviceProfile.get(tenant=await default_tenant(running.hub), is_default=True)).name
        out = str(tmp_path / "o.pdf")
        for argv, reason in ((("--profile", "nope", "--devices", str(good), "--out", out), "no device profile"),
                             (("--profile", profile, "--devices", str(good)), "needs --out"),
                             (("--profile", profile, "--devices", str(bad), "--out", out), "row 2"),
                             (("--profile", profile, "--devices", str(tmp_path / "none.csv"), "--out", out),
                              "cannot read"),
                             (("--profile", profile, "--devices", str(good), "--out", out, "--valid-until", "soon"),
                              "not a date"),
                             (("--profile", profile, "--devices", str(good), "--out", out, "--valid-until",
                               "2001-01-01"), "has passed"),
                             (("revoke", "--batch", "nosuch"), "no label batch")):
            with pytest.raises(HubError, match=reason):
                await command(running, *argv)
        assert not (tmp_path / "o.pdf").exists()
        # Without --url (and no dashboard.public_url) the QR code holds the bare code.
        await command(running, "--profile", profile, "--devices", str(good), "--out", out)
        assert decode_pdf(out) == [(await ClaimLabel.get(device_name="ok-name")).code]
    finally:
        await stop_hub(running)


_key = None


def _signing_key():
    global _key
    if _key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        _key = Ed25519PrivateKey.generate()
    return _key


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_reads_as_no_code_without_raising(text):
    assert read_code(_signing_key().public_key(), text) is None


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=80), st.integers(min_value=0, max_value=2**40))
def test_codes_round_trip_and_a_changed_byte_fails(name, until):
    key = _signing_key()
    code = make_code(key, "b1", name, until)
    content = read_code(key.public_key(), code)
    assert content is not None and content.device_name == name and content.valid_until_s == until
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert read_code(key.public_key(), flipped) is None
