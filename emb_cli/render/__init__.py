"""Human output: one module per command, the shared console in console.py (the only rich user)."""
