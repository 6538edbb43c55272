"""Data: the DIODE reader, the synthetic DIODE-format generator and the one preprocessing definition."""
