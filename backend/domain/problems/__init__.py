"""Problem records (问题学籍, PRB): opening them now; their handling is added beside."""
