"""The course benchmark: splits, contenders, sections and the report (run with bench/run.py)."""
