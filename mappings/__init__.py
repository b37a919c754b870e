"""Level 4: the declarative mapping engine and the shipped mapping specs."""
