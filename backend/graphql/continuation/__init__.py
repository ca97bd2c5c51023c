"""GraphQL for continuation imports (学籍接续)."""
