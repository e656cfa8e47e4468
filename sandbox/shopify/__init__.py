"""The Shopify emulator: OAuth, the Admin GraphQL API and signed webhooks (:mod:`.api`), the
GraphQL schema and query cost (:mod:`.graphql_schema`), seeded orders (:mod:`.orders`) and
their GraphQL view and search (:mod:`.order_view`)."""

from sandbox.shopify.api import blueprint, reset

__all__ = ["blueprint", "reset"]
