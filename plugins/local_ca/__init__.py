"""Local CA (entry point ``local_ca``): each tenant's device CA signs the CSRs devices
send in provision requests (``"credentialsType": "X509_CERTIFICATE", "csr": "<PEM>"``),
so a device gets its TLS client certificate from the hub and its private key never
leaves the device; the CA's key never leaves the hub. Docs: docs/local-ca.md.

Modules: ``authority`` (CA files, CSR checks, signing), ``models`` (issued serials),
``service`` (signing, rotation, import, revocation, TLS trust), ``settings`` (the
``local_ca:`` section and the profile's CSR rules), ``events``, ``cli`` (``gridlinks ca``).

The signed certificate is stored as the device's X509_CERTIFICATE credential, so the
x509 plugin's TLS login finds it; the x509 issuer hands a request with ``csr`` to this
plugin's service (registered under ``x509.certificates.CSR_SIGNER``).
"""

from __future__ import annotations

from gridlinks.core import hookimpl
from gridlinks.plugins.local_ca import cli
from gridlinks.plugins.local_ca.service import LocalCa, LocalCaTrust
from gridlinks.plugins.local_ca.settings import SECTION, LocalCaSettings
from gridlinks.plugins.x509.certificates import CSR_SIGNER


@hookimpl
def register_models(register):
    register("gridlinks.plugins.local_ca.models")


@hookimpl
def register_services(hub, register):
    register(LocalCa(hub, hub.config.section(SECTION, LocalCaSettings)), name=CSR_SIGNER)


@hookimpl
def register_tls_trust(hub, register):
    register(LocalCaTrust(hub.services[CSR_SIGNER]))


@hookimpl
def register_commands(register):
    cli.register(register)


@hookimpl
def register_web_routes(hub, app):
    from gridlinks.plugins.local_ca.admin_api import add_routes

    add_routes(hub, app, hub.services[CSR_SIGNER])
