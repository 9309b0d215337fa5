"""Exports: flat rows, OCEL 2.0 and the observed process map."""
