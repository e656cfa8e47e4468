"""The ids of the accounts the sandbox seeds at every start: one per vendor, all "Acme Outdoor".

The emulators seed these; the demo (:mod:`demo.seed`) creates the demo tenant's connection
rows with the same ids, so the sandbox's signed webhooks resolve to that tenant. Written once
here because the sandbox may not import the demo, while the demo may import the sandbox.
"""

from __future__ import annotations

XERO_TENANT_ID = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
XERO_TENANT_NAME = "Acme Outdoor Co (Xero demo)"
HUBSPOT_PORTAL_ID = 7001234
# Shopify seeds the same demo orders for any shop domain; this is the one the demo connects.
SHOPIFY_SHOP = "acme-outdoor.myshopify.com"
SHOPIFY_SHOP_NAME = "Acme Outdoor"
ASANA_WORKSPACE_GID = "1201000000000001"
ASANA_WORKSPACE_NAME = "Zixly Demo Workspace"
# "Client onboarding": where won deals become onboarding tasks.
ASANA_ONBOARDING_PROJECT_GID = "1201000000000201"

# Records the emulators seed that the demo's job history refers to (tests check them against
# the stores): Shopify's four demo orders (id, name; #1002 is paid) and HubSpot's four deals
# (ids follow the seeding order: three companies, five contacts, then the deals).
SHOPIFY_ORDERS = {"5100001001": "#1001", "5100001002": "#1002", "5100001003": "#1003", "5100001004": "#1004"}
HUBSPOT_DEALS = {
    "51009": "Northwind annual licence",
    "51010": "Blue Fern website",
    "51011": "Kestrel fleet tracking",
    "51012": "Northwind onboarding",
}
