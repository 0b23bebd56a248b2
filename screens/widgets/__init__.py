"""Widgets the screens share: the table with column fitting, the key footer."""
