"""Local schedulers: one engine (``runner``/``engine``) behind sync, threads and
processes backends.  Import the ``get`` functions from the submodules."""
