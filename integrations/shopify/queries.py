"""The GraphQL Admin API documents the Shopify client sends (API version in client.py).

Kept as constants so tests can validate each one against the schema the sandbox serves.
Costs stay well under Shopify's 1,000-point single-query maximum: line items come 50 a page,
with money in the shop currency only (the order totals carry both currencies).
"""

from __future__ import annotations

MONEY_BAG = """
fragment MoneyBagFields on MoneyBag {
  shopMoney { amount currencyCode }
  presentmentMoney { amount currencyCode }
}
"""

LINE_ITEM_FIELDS = """
fragment LineItemFields on LineItem {
  id
  title
  sku
  quantity
  variant { id }
  originalUnitPriceSet { shopMoney { amount currencyCode } }
  totalDiscountSet { shopMoney { amount currencyCode } }
  taxLines { title rate ratePercentage priceSet { shopMoney { amount currencyCode } } }
  discountAllocations { allocatedAmountSet { shopMoney { amount currencyCode } } }
}
"""

ORDER = (
    """
query OrderById($id: ID!) {
  order(id: $id) {
    id
    legacyResourceId
    name
    email
    createdAt
    updatedAt
    processedAt
    cancelledAt
    currencyCode
    presentmentCurrencyCode
    taxesIncluded
    displayFinancialStatus
    displayFulfillmentStatus
    discountCodes
    tags
    subtotalPriceSet { ...MoneyBagFields }
    totalTaxSet { ...MoneyBagFields }
    totalShippingPriceSet { ...MoneyBagFields }
    totalDiscountsSet { ...MoneyBagFields }
    totalPriceSet { ...MoneyBagFields }
    taxLines { title rate ratePercentage priceSet { ...MoneyBagFields } }
    customer { id firstName lastName defaultEmailAddress { emailAddress } }
    shippingLines(first: 5) {
      nodes {
        title
        code
        originalPriceSet { ...MoneyBagFields }
        discountedPriceSet { ...MoneyBagFields }
        taxLines { title rate ratePercentage priceSet { ...MoneyBagFields } }
      }
    }
    lineItems(first: 50) {
      nodes { ...LineItemFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + MONEY_BAG
    + LINE_ITEM_FIELDS
)

ORDER_LINE_ITEMS = (
    """
query OrderLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 50, after: $after) {
      nodes { ...LineItemFields }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
    + LINE_ITEM_FIELDS
)

ORDERS_UPDATED_SINCE = """
query OrdersUpdatedSince($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {
      id
      legacyResourceId
      name
      updatedAt
      displayFinancialStatus
      totalPriceSet { shopMoney { amount currencyCode } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ALL = {"OrderById": ORDER, "OrderLineItems": ORDER_LINE_ITEMS, "OrdersUpdatedSince": ORDERS_UPDATED_SINCE}
