"""kerasopt."""
