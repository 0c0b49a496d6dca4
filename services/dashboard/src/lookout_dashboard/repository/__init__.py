"""The dashboard service's SQL, one module per table family: the only code that speaks to its database."""
