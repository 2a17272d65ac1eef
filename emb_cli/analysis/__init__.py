"""Pure functions from a source to a frozen report; they never print."""
