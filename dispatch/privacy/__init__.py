"""PDPA: who saw an elder's medical facts, how long positions are kept, export, erasure."""
