"""Signed claim labels (entry point ``claim_labels``): ``gridlinks claim-labels`` prints
QR labels before the devices ever connect; each code carries the device name and a
claim secret signed by the hub (Ed25519), valid until a date. The claim service accepts
the code once as the device's server-side claim secret (``/ui/claim``, ``POST
/api/customer/device/{name}/claim``). Docs: docs/claim-labels.md.

Modules: ``codes`` (the code format), ``models`` (batches, codes), ``service`` (the key,
batches, revocation, the claim strategy), ``pdf`` (the label sheet), ``cli``.
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.claim_labels import cli
from gridlinks.plugins.claim_labels.service import SERVICE, ClaimLabels, LabelClaimStrategy


@hookimpl
def register_models(register):
    register("gridlinks.plugins.claim_labels.models")


@hookimpl
def register_services(hub, register):
    register(ClaimLabels(hub), name=SERVICE)


@hookimpl
def register_claim_strategies(hub, register):
    register(LabelClaimStrategy(hub.services[SERVICE]))


@hookimpl
def register_commands(register):
    cli.register(register)
