"""What people use: the admin REST API (and, later, the Jinja2 dashboard), served by
whichever transport serves HTTP through the ``register_web_routes`` hook."""
