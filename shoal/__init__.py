"""shoal: parallel computing for Python, made for Jupyter."""
