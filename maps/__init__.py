"""natplan rendering: offline HTML coverage maps."""
