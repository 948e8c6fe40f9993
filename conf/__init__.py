"""The Hydra configs; in a wheel this folder is the package ``querytrack.conf`` (``pkg://querytrack.conf``)."""
