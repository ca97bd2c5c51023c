"""Plain HTTP endpoints beside GraphQL: file upload and download."""
