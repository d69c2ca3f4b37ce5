"""The built-in pages, registered through ``register_dashboard_pages`` like any plugin's.
Order matters where paths overlap: ``/devices/new`` before ``/devices/{id}``."""

from __future__ import annotations

from aiohttp import web

from gridlinks.web.dashboard import audit_page, bulk, devices, feed, masking, overview, profiles, views_auth
from gridlinks.web.dashboard.pages import ANYONE, CUSTOMER, PUBLIC, Page
from gridlinks.web.dashboard.render import state, url
from gridlinks.web.dashboard.state import WHO

GET_POST = ("GET", "POST")
POST = ("POST",)


async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(url(request, state(request).home_for(request[WHO])))


def builtin_pages(hub) -> list[Page]:
    pages = [
        Page("/login", views_auth.login_page, "login", audience=PUBLIC),
        Page("/login", views_auth.login_submit, "login_submit", methods=POST, audience=PUBLIC),
        Page("/logout", views_auth.logout, "logout", methods=POST, audience=ANYONE),
        Page("/", home, "home", audience=ANYONE),
        Page("/overview", overview.overview, "overview", menu="Overview", order=10, icon="home"),
        Page("/events", feed.events, "events"),
        Page("/profiles", profiles.profile_list, "profiles", menu="Device profiles", order=20, icon="layers"),
        Page("/profiles/new", profiles.profile_new, "profile_new", methods=GET_POST),
        Page("/profiles/{id}", profiles.profile_edit, "profile", methods=GET_POST),
        Page("/profiles/{id}/regenerate", profiles.profile_regenerate, "profile_regenerate", methods=POST),
        Page("/profiles/{id}/delete", profiles.profile_delete, "profile_delete", methods=POST),
        Page("/profiles/{id}/rotate", profiles.profile_rotate, "profile_rotate", methods=POST),
        Page("/devices", devices.device_list, "devices", menu="Devices", order=30, icon="cpu"),
        Page("/devices/new", devices.device_new, "device_new", methods=GET_POST),
        Page("/devices/{id}", devices.device_page_view, "device"),
        Page("/devices/{id}/attributes", devices.attribute_save, "attribute_save", methods=POST),
        Page("/devices/{id}/attributes/delete", devices.attribute_delete, "attribute_delete", methods=POST),
        Page("/devices/{id}/delete", devices.device_delete, "device_delete", methods=POST),
        Page("/reveal/{kind}/{id}", masking.reveal, "reveal", methods=POST),
        Page("/import", bulk.import_start_page, "bulk_import", methods=GET_POST, menu="Bulk import", order=40,
             icon="upload"),
        Page("/import/{job}", bulk.import_job_page, "import_job"),
        Page("/import/{job}/run", bulk.import_run, "import_run", methods=POST),
        Page("/import/{job}/status", bulk.import_status, "import_status"),
        Page("/audit", audit_page.audit_log, "audit", menu="Audit log", order=70, icon="list"),
    ]
    if getattr(hub, "claiming", None) is not None and getattr(hub, "customers", None) is not None:
        # Imported here: these pages exist only on a hub with the claiming services.
        from gridlinks.web.dashboard import claims, customers

        pages += [
            Page("/devices/{id}/claim-data", claims.claim_data_save, "claim_data_save", methods=POST),
            Page("/devices/{id}/claim-data/delete", claims.claim_data_clear, "claim_data_clear", methods=POST),
            Page("/devices/{id}/claim-print", claims.claim_print, "claim_print"),
            Page("/devices/{id}/reclaim", claims.tenant_reclaim, "device_reclaim", methods=POST),
            Page("/customers", customers.customer_list, "customers", methods=GET_POST, menu="Customers", order=50,
                 icon="users"),
            Page("/customers/{id}", customers.customer_page, "customer", methods=GET_POST),
            Page("/customers/{id}/delete", customers.customer_delete, "customer_delete", methods=POST),
            Page("/users/{user}/delete", customers.user_delete, "user_delete", methods=POST),
            Page("/roles", customers.roles_page, "roles", menu="Roles", order=60, icon="key"),
            Page("/roles/action", customers.roles_action, "roles_action", methods=POST),
            Page("/my-devices", claims.my_devices, "my_devices", audience=CUSTOMER, menu="My devices", order=10,
                 icon="cpu"),
            Page("/my-devices/{id}", claims.my_device, "my_device", audience=CUSTOMER),
            Page("/my-devices/{id}/reclaim", claims.my_device_reclaim, "my_device_reclaim", methods=POST,
                 audience=CUSTOMER),
            Page("/claim", claims.claim_widget, "claim", methods=GET_POST, audience=CUSTOMER,
                 menu="Claim a device", order=20, icon="plus"),
        ]
    return pages
