"""The GraphQL edge: types, resolvers that translate, and the hardening around them."""
