"""Best-of-N evaluation: metrics, benchmark readers and reports (no sampling or model code here)."""
