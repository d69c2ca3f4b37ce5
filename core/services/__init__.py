"""The hub's services: the rules of provisioning, credentials, devices, profiles,
claiming, customers, permissions, auth, audit and bulk import. They know nothing of
protocols; transports call them."""
