"""Components that ship with f2g-core, registered through the same hooks as external plugins."""
