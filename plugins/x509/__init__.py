"""X.509: everything the hub does with client certificates, in one package.

- ``certificates``: parsing, the SHA3-256 id, chain checks (pure functions);
- ``credentials``: the X509_CERTIFICATE credential type (entry point ``x509``): issuing
  a device certificate from a provision request, and authenticating a TLS client by it;
- ``chain``: the X509_CERTIFICATE_CHAIN strategy (entry point ``provision_x509_chain``):
  its profile configuration model, and the login that provisions a device whose
  certificate chains to a profile's CA;
- ``trust``: which certificates a TLS listener lets through the handshake (provisioned
  device certificates, chain profiles' anchors), offered through the
  ``register_tls_trust`` hook, so a transport never reads these tables itself.

The two entry points are separate modules so a config may enable either.
"""
