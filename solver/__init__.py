"""natplan optimisation: location (assignment), routing (home visits). No file I/O."""
