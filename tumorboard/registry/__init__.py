"""The cancer registry (issue 15): oBDS 3.0.4 Tumorkonferenz export of the board's signed recommendations."""
